"""The text side of bounce reports: header text, status codes, hard / soft
classification and the plain-text bounces older MTAs send.

Bodies are scanned only in their first `SCAN_LIMIT` characters, and no pattern has
nested or overlapping repeats, so a hostile 1 MB body cannot make a regex backtrack for
long (tests/test_reports.py times each pattern on a megabyte).
"""

from __future__ import annotations

import enum
import html
import re
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import Header, decode_header
from email.utils import parseaddr

from consentapp.mail.report_phrases import (
    DELAYED,
    FAILURE_SIGN,
    HARD_PHRASES,
    POLICY_PHRASES,
    QUOTA_PHRASES,
    SOFT_PHRASES,
)

SCAN_LIMIT = 64 * 1024
MAX_DIAGNOSTIC = 1000
MAX_PLAIN_RECIPIENTS = 20

# An enhanced status code (RFC 3463), not part of a dotted number such as an IP address.
ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# A basic SMTP reply code as servers write it: "550 ", "550-", "550:" or at the end.
BASIC = re.compile(r"(?<![\d.#])([245])\d\d(?=[ \t:-]|$)")

# Where the copy of the returned message starts in a plain-text bounce.
RETURNED_MARKER = re.compile(
    r"^[ \t]*-{2,}[ \t]*(?:below this line is a copy of the message|this is a copy of the message"
    r"|original message|unsent message|returned message|undelivered message|the header of the"
    r"|a copy of the original message|message headers follow|original message headers)"
    r"|^[ \t]*original message headers:"
    r"|^(?:return-path|received|dkim-signature):",
    re.IGNORECASE | re.MULTILINE,
)
ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}"
)
QMAIL_BLOCK = re.compile(r"^<([^<>\s]{1,200}@[^<>\s]{1,200})>:[ \t]*$", re.MULTILINE)
QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^<>\s]{1,500})>", re.I | re.M)
QUOTED_RETURN_PATH = re.compile(r"^[ \t>]*Return-Path:[ \t]*<([^<>\s]{1,500})>", re.I | re.M)
QUOTED_TO = re.compile(r"^[ \t>]*To:[ \t]*([^\r\n]{1,500})", re.I | re.M)
HTML_TAG = re.compile(r"<(/?)([A-Za-z]{0,10}+)[^<>]{0,2000}>")
HTML_BREAKS = frozenset({"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3"})
# Quoted header lines whose addresses are the sender's, never a failed recipient.
SENDER_LINE = re.compile(
    r"^[ \t>]*(?:from|reply-to|sender|return-path|message-id|in-reply-to|references"
    r"|dkim-signature|list-unsubscribe|x-[a-z-]{1,40}|mail[ \t]{1,10}from)[ \t]*:",
    re.IGNORECASE,
)
SERVICE_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "noreply", "no-reply"})


def header_text(value: object) -> str:
    """A header as one line of text: encoded words decoded, raw 8-bit bytes read as
    UTF-8 (else Latin-1), unknown charsets replaced rather than fatal."""
    if value is None:
        return ""
    try:
        chunks = decode_header(value if isinstance(value, Header) else str(value))
    except (HeaderParseError, ValueError, TypeError):
        chunks = [(str(value), None)]
    decoded = "".join(_chunk_text(data, charset) for data, charset in chunks)
    return " ".join(decoded.split())


def _chunk_text(data: bytes | str, charset: str | None) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return bytes_text(data, charset)


def bytes_text(data: bytes, charset: str | None) -> str:
    """Bytes as text in the declared charset, else UTF-8, else Latin-1 (never fails:
    reports arrive with wrong, unknown and missing charsets)."""
    for candidate in (charset, "utf-8"):
        if candidate and candidate.lower() not in ("unknown-8bit", "x-unknown"):
            try:
                return data.decode(candidate)
            except (LookupError, ValueError):  # unknown, undecodable or a NUL in the name
                continue
    return data.decode("latin-1")


def bare_id(value: str) -> str | None:
    """A Message-ID without its angle brackets."""
    bare = value.strip().strip("<>").strip()
    return bare[:500] or None


def field_address(value: str) -> str | None:
    """An address from a field such as "rfc822; <a@b>" or "Name <a@b>", or None."""
    value = value.strip()
    kind, semicolon, rest = value.partition(";")
    if semicolon and "@" not in kind:
        value = rest.strip()
    _, address = parseaddr(value)
    address = address or value.strip("<> ")
    return address if "@" in address and " " not in address and len(address) <= 320 else None


def one_line(text: str | None) -> str | None:
    """Whitespace collapsed and capped, or None for nothing left."""
    if text is None:
        return None
    collapsed = " ".join(text[: MAX_DIAGNOSTIC * 4].split())[:MAX_DIAGNOSTIC]
    return collapsed or None


def enhanced_code(text: str | None) -> str | None:
    if not text:
        return None
    found = ENHANCED.search(text[:SCAN_LIMIT])
    return ".".join(found.groups()) if found else None


def basic_code(text: str) -> str | None:
    found = BASIC.search(text[:SCAN_LIMIT])
    return found.group(0) if found else None


def has_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    lowered = " ".join(text[:SCAN_LIMIT].lower().split())
    return any(phrase in lowered for phrase in phrases)


def is_service_address(address: str) -> bool:
    return address.rpartition("@")[0].lower() in SERVICE_LOCAL_PARTS


class BounceKind(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


# Permanent codes about the address itself (RFC 3463): bad mailbox or address (X.1.X),
# mailbox disabled (X.2.1), no route to the domain (X.4.4).
ADDRESS_SUBJECTS = ("1",)
ADDRESS_CODES = ("5.2.1", "5.4.4")
# Permanent codes about our mail, not the address: mail system (X.3.X), routing and
# time-outs (X.4.X), protocol (X.5.X), content (X.6.X), security and policy (X.7.X:
# blocklists, DMARC, reputation), message too large (X.2.3).
MESSAGE_SUBJECTS = ("3", "4", "5", "6", "7")
MESSAGE_CODES = ("5.2.3",)


def classify(status: str | None, diagnostic: str | None) -> BounceKind:
    """Hard only on clear evidence that the address does not work: a guess, or a
    refusal of our mail (a blocklisting, a DMARC failure), must not make anyone
    undeliverable.

    A full mailbox is soft whatever the code (5.2.2 included, as listmonk and most
    senders treat it). A permanent enhanced code is hard when it is about the address
    (X.1.X, 5.2.1, 5.4.4), soft when it is about our mail (policy, content, routing,
    protocol) unless the text says the user is unknown; a bare 5xx is hard unless the
    text speaks of policy. Then known phrases (temporary ones first), and soft when
    nothing is known.
    """
    words = diagnostic or ""
    code = enhanced_code(status) or enhanced_code(words)
    if has_phrase(words, QUOTA_PHRASES) or (code and code.split(".")[1:] == ["2", "2"]):
        return BounceKind.SOFT
    if code and code[0] == "4":
        return BounceKind.SOFT
    if code and code[0] == "5":
        subject = code.split(".")[1]
        if subject in ADDRESS_SUBJECTS or code in ADDRESS_CODES:
            return BounceKind.HARD
        if subject in MESSAGE_SUBJECTS or code in MESSAGE_CODES:
            return BounceKind.HARD if has_phrase(words, HARD_PHRASES) else BounceKind.SOFT
        return BounceKind.SOFT if has_phrase(words, POLICY_PHRASES) else BounceKind.HARD
    basic = basic_code(words)
    if basic and basic[0] in "45":
        if basic[0] == "4" or has_phrase(words, POLICY_PHRASES):
            return BounceKind.SOFT
        return BounceKind.HARD
    if has_phrase(words, SOFT_PHRASES):
        return BounceKind.SOFT
    if has_phrase(words, HARD_PHRASES):
        return BounceKind.HARD
    return BounceKind.SOFT


@dataclass(frozen=True, slots=True)
class PlainFailure:
    """One recipient a plain-text bounce names, with the text that explains why."""

    address: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class PlainBounce:
    failures: tuple[PlainFailure, ...]
    message_id: str | None
    return_path: str | None
    original_to: str | None


def html_to_text(markup: str) -> str:
    """Tags out (block ends as line breaks, so paragraphs stay apart), entities decoded."""

    def replace(tag: re.Match[str]) -> str:
        return "\n" if tag.group(2).lower() in HTML_BREAKS else " "

    return html.unescape(HTML_TAG.sub(replace, markup[:SCAN_LIMIT]))


def split_returned(text: str) -> tuple[str, str]:
    """The notice (what the MTA wrote) and the copy of the returned message, if marked."""
    marker = RETURNED_MARKER.search(text)
    if marker is None:
        return text, ""
    return text[: marker.start()], text[marker.start() :]


def _paragraph_after(lines: list[str], index: int) -> str:
    """The lines after an address line up to the next blank line (at most ten)."""
    taken: list[str] = []
    for line in lines[index + 1 : index + 11]:
        if not line.strip():
            break
        taken.append(line)
    return " ".join(taken)


def _explains(text: str) -> bool:
    return bool(
        enhanced_code(text)
        or basic_code(text)
        or has_phrase(text, HARD_PHRASES)
        or has_phrase(text, SOFT_PHRASES)
    )


def _first_reason_line(notice: str) -> str | None:
    for line in notice.splitlines():
        if _explains(line):
            return line
    return None


def _qmail_failures(notice: str) -> list[PlainFailure]:
    lines = notice.splitlines()
    starts = {match.group(0).strip(): match.group(1) for match in QMAIL_BLOCK.finditer(notice)}
    failures = []
    for index, line in enumerate(lines):
        address = starts.get(line.strip())
        if address is not None:
            failures.append(PlainFailure(address, one_line(_paragraph_after(lines, index))))
    return failures


def _named_failures(notice: str, known: set[str], failed: list[str]) -> list[PlainFailure]:
    """Addresses in the notice that are not ours or the reporting system's."""
    lines = notice.splitlines()
    fallback = _first_reason_line(notice)
    seen: set[str] = set()
    failures = []
    for index, line in enumerate(lines):
        if SENDER_LINE.match(line):
            continue
        for match in ADDRESS.finditer(line):
            address = match.group(0).strip(".")
            key = address.lower()
            if key in seen or key in known or is_service_address(address):
                continue
            if failed and key not in {item.lower() for item in failed}:
                continue
            seen.add(key)
            rest = line[match.end() :].lstrip(">:;,)] \t")
            here = f"{rest} {_paragraph_after(lines, index)}"
            reason = here if _explains(here) else f"{here} {fallback or ''}"
            failures.append(PlainFailure(address, one_line(reason)))
    return failures


def _quoted_senders(returned: str) -> set[str]:
    """Our own addresses as the returned copy shows them (its From, Return-Path...)."""
    return {
        match.group(0).lower()
        for line in returned.splitlines()
        if SENDER_LINE.match(line)
        for match in ADDRESS.finditer(line)
    }


def scan_plain(text: str, known: set[str], failed: list[str]) -> PlainBounce | None:
    """The failures a plain-text bounce body describes, or None when it describes none.

    `known` are addresses that are certainly not the failed recipient (the report's own
    sender and recipients); `failed` are the addresses an X-Failed-Recipients header names.
    """
    text = text[:SCAN_LIMIT]
    notice, returned = split_returned(text)
    known = known | _quoted_senders(returned)
    failures = _qmail_failures(notice) or _named_failures(notice, known, failed)
    if not failures and failed:
        reason = one_line(_first_reason_line(notice))
        failures = [PlainFailure(address, reason) for address in failed]
    if not failures:
        return None
    quoted = returned or text
    message_id = QUOTED_MESSAGE_ID.search(quoted)
    return_path = QUOTED_RETURN_PATH.search(quoted)
    original_to = QUOTED_TO.search(returned) if returned else None
    to_address = ADDRESS.search(original_to.group(1)) if original_to else None
    return PlainBounce(
        failures=tuple(failures[:MAX_PLAIN_RECIPIENTS]),
        message_id=message_id.group(1) if message_id else None,
        return_path=return_path.group(1) if return_path else None,
        original_to=to_address.group(0) if to_address else None,
    )


def looks_failed(subject: str, notice: str, failed: list[str]) -> bool:
    """A plain-text notice that says delivery failed, not one that is still being retried."""
    if DELAYED.search(subject):
        return False
    if failed:
        return True
    if DELAYED.search(notice[:SCAN_LIMIT]) and not FAILURE_SIGN.search(notice[:SCAN_LIMIT]):
        return False
    return bool(FAILURE_SIGN.search(notice[:SCAN_LIMIT]) or _explains(notice))
