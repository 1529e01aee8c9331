"""The bytes of an outgoing mail, written directly from the outbox row.

Every mail we send has one shape: a subject, a few headers, a plain-text body and
usually an HTML alternative. `email.message` builds a tree of objects and walks it
with its header registry, which costs about a millisecond a message; writing this
one shape directly costs a few dozen microseconds. The standard library still does
the parts that need care: encoded words for non-ASCII headers (`email.header`),
address formatting (`email.utils`) and quoted-printable bodies (`binascii`, in C).
Tests parse what this writes with the standard parser and verify DKIM on it.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Mapping
from email.charset import Charset
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

import idna

CRLF = "\r\n"
MAX_LINE = 78
ADDRESS_HEADERS = frozenset({"from", "to", "reply-to", "cc", "sender"})


class MalformedHeader(ValueError):
    """A header value with a line break, or one too long for a mail header."""


def ascii_domain(domain: str) -> str:
    """A domain as DNS and SMTP carry it: an internationalised one in IDNA form."""
    if domain.isascii():
        return domain
    try:
        return str(idna.encode(domain, uts46=True).decode("ascii"))
    except idna.IDNAError as exc:
        raise MalformedHeader(f"not a usable domain: {domain!r}") from exc


def ascii_address(address: str) -> str:
    """The address as SMTP carries it: an internationalised domain in its ASCII (IDNA)
    form. Local parts must be ASCII already (we accept no SMTPUTF8 addresses)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or not local.isascii():
        raise MalformedHeader(f"not a usable address: {address!r}")
    return f"{local}@{ascii_domain(domain)}"


def _encode_address(header: str, value: str) -> str:
    name, address = parseaddr(value)
    address = ascii_address(address)
    if name and not name.isascii():
        return f"{_phrase(name)} <{address}>"
    return formataddr((name, address))


_UTF8 = Charset("utf-8")
_SPECIALS = set('()<>[]:;@\\,."')


def _phrase(name: str) -> str:
    """A display name with non-ASCII words as encoded words (RFC 2047), plain words
    left plain: each encoded word stays short, and the spaces between words survive in
    every reader (whitespace between two encoded words does not count, so neighbouring
    words that need encoding share one)."""
    runs: list[tuple[bool, list[str]]] = []
    for word in name.split():
        plain = word.isascii() and not _SPECIALS.intersection(word)
        if runs and runs[-1][0] == plain:
            runs[-1][1].append(word)
        else:
            runs.append((plain, [word]))
    return " ".join(
        " ".join(words) if plain else _UTF8.header_encode(" ".join(words)) for plain, words in runs
    )


def _fold(name: str, value: str) -> str:
    """`Name: value`, folded at spaces when longer than 78 characters (RFC 5322 2.2.3)."""
    line = f"{name}: {value}"
    if len(line) <= MAX_LINE or " " not in value:
        return line
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > MAX_LINE and current.strip() not in ("", f"{name}:"):
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    return CRLF.join(lines)


@lru_cache(maxsize=1024)
def header_line(name: str, value: str) -> str:
    """One header, encoded for the wire: encoded words for non-ASCII text, formatted
    addresses for address headers, folded when long. Line breaks are refused.

    Cached: a campaign's sender, subject and List-Id repeat in every message."""
    if "\r" in value or "\n" in value:
        raise MalformedHeader(f"line break in the {name} header")
    if name.lower() in ADDRESS_HEADERS:
        value = _encode_address(name, value)
        if CRLF in value:
            return f"{name}: {value}"
    elif name.lower() == "list-id" and not value.isascii() and value.endswith(">"):
        # RFC 2919: only the phrase before <list-id> may be encoded.
        phrase, _, list_id = value.rpartition(" <")
        encoded = Header(phrase, "utf-8", header_name=name).encode(linesep=CRLF)
        return f"{name}: {encoded} <{list_id}"
    elif not value.isascii():
        encoded = Header(value, "utf-8", header_name=name).encode(linesep=CRLF)
        return f"{name}: {encoded}"
    line = _fold(name, value)
    if any(len(part) > 998 for part in line.split(CRLF)):
        raise MalformedHeader(f"the {name} header is too long")
    return line


def _quoted_printable(text: str) -> str:
    """The text quoted-printable, lines of at most 76 characters, every one ending in
    CRLF (b2a_qp writes LF breaks, soft ones included, for text without CRLF)."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    encoded = binascii.b2a_qp(normalised.encode("utf-8"), quotetabs=False, istext=True)
    lines = encoded.decode("ascii").split("\n")
    if any(len(line) > 76 for line in lines):
        # b2a_qp lets a line ending in an encoded space (=20) reach 77 characters.
        lines = [piece for line in lines for piece in _soft_break(line)]
    return CRLF.join(lines)


def _soft_break(line: str) -> list[str]:
    """A quoted-printable line cut into lines of at most 76 characters with soft line
    breaks, never inside an =XX escape."""
    pieces = []
    while len(line) > 76:
        cut = 75
        escape = line.rfind("=", cut - 2, cut)
        if escape != -1:
            cut = escape
        pieces.append(line[:cut] + "=")
        line = line[cut:]
    pieces.append(line)
    return pieces


def _part(content: str, subtype: str) -> list[str]:
    body = _quoted_printable(content)
    return [
        f'Content-Type: text/{subtype}; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        body,  # the line break before the next boundary belongs to the boundary
    ]


def compose(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    headers: Mapping[str, str] | None = None,
    date: float | None = None,
) -> bytes:
    """The whole message: multipart/alternative when there is HTML, else plain text."""
    lines = [
        header_line("From", sender),
        header_line("To", to),
        header_line("Subject", subject),
        f"Date: {formatdate(date)}",
        header_line("Message-ID", message_id),
    ]
    lines += [header_line(name, value) for name, value in (headers or {}).items()]
    lines.append("MIME-Version: 1.0")
    if html:
        boundary = "=_" + secrets.token_hex(16)
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        lines += ["", f"--{boundary}"]
        lines += _part(text, "plain")
        lines.append(f"--{boundary}")
        lines += _part(html, "html")
        lines.append(f"--{boundary}--")
        lines.append("")
    else:
        lines += _part(text, "plain")
        if not lines[-1].endswith(CRLF):
            lines.append("")  # a message ends with a line break
    return CRLF.join(lines).encode("ascii")
