"""Reading bounce reports from a mailbox (BOUNCE_MAILBOX_URL) over IMAP or POP3.

Each message is handed to a handler that commits it (to the inbound report queue), and
only once that returned is the message deleted (or moved): a crash in between leaves
it in the mailbox to be read again on the next poll, so a report is never lost, at
worst read twice (the queue's processing is idempotent). A handler that raises leaves
its message where it is.

    imaps://user:password@host[:port]/INBOX      (TLS, port 993)
    imap://user:password@host[:port]/INBOX       (STARTTLS required; ?starttls=no: plain)
    pop3s://user:password@host[:port]            (TLS, port 995)
    pop3://user:password@host[:port]             (STLS required; ?starttls=no: plain)
    ...?move=Processed                           (IMAP: move instead of delete)

Certificates are verified against the system's store (plus `ca_file`, if given). There
is no "STARTTLS when offered": whoever strips it in transit would get the password.
A message over `max_message_bytes` (its size is asked first) is removed unread.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import poplib
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

Handler = Callable[[bytes], object]

DEFAULT_PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}
STARTTLS_CHOICES = ("no", "required")
_BODY = re.compile(rb"BODY\[\]", re.IGNORECASE)
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)", re.IGNORECASE)


_NO_STARTTLS = (
    "{mailbox}: the server offers no {command}, so the password would go in clear (it may "
    "have been stripped on the way); use imaps:// or pop3s://, or ?starttls=no for a "
    "server on this machine"
)


class MailboxError(RuntimeError):
    """The mailbox could not be read: unreachable, refused the login, or broke off."""


@dataclass(frozen=True)
class MailboxURL:
    """BOUNCE_MAILBOX_URL, parsed; `str()` never shows the password."""

    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    starttls: str = "required"
    move_to: str | None = None

    @property
    def imap(self) -> bool:
        return self.scheme.startswith("imap")

    @property
    def implicit_tls(self) -> bool:
        return self.scheme.endswith("s")

    def __str__(self) -> str:
        where = f"/{self.folder}" if self.imap else ""
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}{where}"


def parse_url(url: str) -> MailboxURL:
    """Read a mailbox URL; a ValueError says what is wrong with it (never quoting the
    password)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(
            "BOUNCE_MAILBOX_URL must start with imaps://, imap://, pop3s:// or pop3:// "
            f"(got {scheme + '://' if scheme else 'no scheme'})"
        )
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ValueError(
            "BOUNCE_MAILBOX_URL has a port that is not a number from 1 to 65535"
        ) from exc
    if not parts.hostname:
        raise ValueError("BOUNCE_MAILBOX_URL names no host, as in imaps://user:pass@host/INBOX")
    if not parts.username or parts.password is None:
        raise ValueError("BOUNCE_MAILBOX_URL needs a user and a password: scheme://user:pass@host")
    folder, starttls, move_to = _options(scheme, parts.path, parts.query)
    return MailboxURL(
        scheme=scheme,
        host=parts.hostname,
        port=port,
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=folder,
        starttls=starttls,
        move_to=move_to,
    )


def _options(scheme: str, path: str, query: str) -> tuple[str, str, str | None]:
    """The folder, the STARTTLS choice and the folder to move to, checked."""
    options = {name: values[-1] for name, values in parse_qs(query).items()}
    unknown = sorted(set(options) - {"starttls", "move"})
    if unknown:
        raise ValueError(f"BOUNCE_MAILBOX_URL has unknown options: {', '.join(unknown)}")
    starttls = options.get("starttls", "required").lower()
    if starttls not in STARTTLS_CHOICES:
        raise ValueError("BOUNCE_MAILBOX_URL: starttls must be no or required")
    if "starttls" in options and scheme.endswith("s"):
        raise ValueError(f"BOUNCE_MAILBOX_URL: starttls is for imap:// and pop3://, not {scheme}")
    folder = unquote(path.lstrip("/")) or "INBOX"
    move_to = options.get("move") or None
    if scheme.startswith("pop3") and (path.strip("/") or move_to):
        raise ValueError(
            "BOUNCE_MAILBOX_URL: POP3 has one mailbox; folders and move= are IMAP only"
        )
    for name in (folder, move_to or ""):
        if not name.isascii() or any(char in name for char in '\r\n"\\'):
            raise ValueError(f"BOUNCE_MAILBOX_URL: folder name {name!r} is not plain ASCII")
    return folder, starttls, move_to


@dataclass
class PollResult:
    """What one poll did: messages handed over and removed, and those left in place."""

    handled: int = 0
    failed: int = 0
    remaining: int = 0
    too_large: int = 0

    def __str__(self) -> str:
        return (
            f"{self.handled} message(s) taken in and removed, {self.too_large} too large "
            f"removed unread, {self.failed} left after an error, {self.remaining} left for "
            "the next poll"
        )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifying TLS: the system's certificate store, plus `ca_file` when given."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def poll(
    url: str,
    handle: Handler,
    *,
    limit: int = 500,
    timeout: float = 30,
    ca_file: str | None = None,
    max_message_bytes: int = 10 * 1024 * 1024,
) -> PollResult:
    """Read up to `limit` messages, hand each to `handle`, remove those it took; one
    over `max_message_bytes` is removed without being read (it would sit in memory and
    in the report queue whole).

    Raises ValueError for a bad URL and MailboxError when the server cannot be used."""
    mailbox = parse_url(url)
    context = tls_context(ca_file)
    reading = _Reading(mailbox, handle, limit, max_message_bytes)
    try:
        if mailbox.imap:
            return _poll_imap(reading, timeout, context)
        return _poll_pop3(reading, timeout, context)
    except (imaplib.IMAP4.error, poplib.error_proto, OSError, EOFError) as exc:
        raise MailboxError(f"{mailbox}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class _Reading:
    mailbox: MailboxURL
    handle: Handler
    limit: int
    max_message_bytes: int

    @property
    def where(self) -> str:
        """The mailbox without its user (which may be an address)."""
        return str(self.mailbox).replace(f"{self.mailbox.user}@", "", 1)

    def too_large(self, size: int | None, which: str, result: PollResult) -> bool:
        """True (counted and logged, without the user) when the message must go unread."""
        if size is None or size <= self.max_message_bytes:
            return False
        over = f"{size} bytes, over BOUNCE_MAX_MESSAGE_BYTES ({self.max_message_bytes})"
        log.warning("mailbox message %s in %s is %s: removed unread", which, self.where, over)
        result.too_large += 1
        return True


def _handled(handle: Handler, raw: bytes, where: str) -> bool:
    """Run the handler; False (logged) when it raised, so the message stays."""
    try:
        handle(raw)
    except Exception:
        log.exception("mailbox message %s not taken in; it stays for the next poll", where)
        return False
    return True


# IMAP ------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: tuple[str, Any], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        detail = b" ".join(item for item in data if isinstance(item, bytes)).decode(
            errors="replace"
        )
        raise MailboxError(f"IMAP {what} refused: {detail}")
    return list(data)


def _imap_connect(mailbox: MailboxURL, timeout: float, context: ssl.SSLContext) -> imaplib.IMAP4:
    client: imaplib.IMAP4
    if mailbox.implicit_tls:
        client = imaplib.IMAP4_SSL(mailbox.host, mailbox.port, ssl_context=context, timeout=timeout)
    else:
        client = imaplib.IMAP4(mailbox.host, mailbox.port, timeout=timeout)
    try:
        _imap_secure_and_log_in(client, mailbox, context)
    except BaseException:
        with contextlib.suppress(OSError):
            client.shutdown()
        raise
    return client


def _imap_secure_and_log_in(
    client: imaplib.IMAP4, mailbox: MailboxURL, context: ssl.SSLContext
) -> None:
    if not mailbox.implicit_tls and mailbox.starttls == "required":
        if "STARTTLS" not in client.capabilities:
            raise MailboxError(_NO_STARTTLS.format(mailbox=mailbox, command="STARTTLS"))
        client.starttls(ssl_context=context)
    if mailbox.user.isascii() and mailbox.password.isascii():
        _check(client.login(_quote(mailbox.user), mailbox.password), "LOGIN")
    else:
        secret = f"\0{mailbox.user}\0{mailbox.password}".encode()
        _check(client.authenticate("PLAIN", lambda _challenge: secret), "AUTHENTICATE")


def _imap_capabilities(client: imaplib.IMAP4) -> set[str]:
    """The capabilities after login (servers announce more once a user is known)."""
    data = _check(client.capability(), "CAPABILITY")
    first = data[0] if data and isinstance(data[0], bytes) else b""
    return set(first.decode(errors="replace").upper().split())


def _imap_size(client: imaplib.IMAP4, uid: str) -> int | None:
    """The size of the message with this UID (None: removed meanwhile)."""
    data = _check(client.uid("FETCH", uid, "(RFC822.SIZE)"), "FETCH")
    heads = [item[0] if isinstance(item, tuple) else item for item in data]
    found = [_SIZE.search(head) for head in heads if isinstance(head, bytes)]
    return next((int(match.group(1)) for match in found if match), None)


def _imap_fetch(client: imaplib.IMAP4, uid: str) -> bytes | None:
    """The message with this UID exactly as stored, without setting \\Seen."""
    data = _check(client.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and _BODY.search(item[0]):
            return bytes(item[1])
    return None


def _imap_remove(client: imaplib.IMAP4, uid: str, mailbox: MailboxURL, caps: set[str]) -> None:
    """Move the message to `move_to`, or delete it; only ever this one (with UIDPLUS)."""
    if mailbox.move_to and "MOVE" in caps:
        _check(client.uid("MOVE", uid, _quote(mailbox.move_to)), "MOVE")
        return
    if mailbox.move_to:
        _check(client.uid("COPY", uid, _quote(mailbox.move_to)), "COPY")
    _check(client.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
    if "UIDPLUS" in caps:
        _check(client.uid("EXPUNGE", uid), "UID EXPUNGE")
    else:
        _check(client.expunge(), "EXPUNGE")


def _imap_ensure_folder(client: imaplib.IMAP4, folder: str) -> None:
    data = _check(client.list('""', _quote(folder)), "LIST")
    if not any(isinstance(item, bytes) and item for item in data):
        _check(client.create(_quote(folder)), "CREATE")


def _poll_imap(reading: _Reading, timeout: float, context: ssl.SSLContext) -> PollResult:
    mailbox, limit = reading.mailbox, reading.limit
    client = _imap_connect(mailbox, timeout, context)
    try:
        caps = _imap_capabilities(client)
        if mailbox.move_to:
            _imap_ensure_folder(client, mailbox.move_to)
        _check(client.select(_quote(mailbox.folder)), "SELECT")
        found = _check(client.uid("SEARCH", "UNDELETED"), "SEARCH")
        uids = found[0].decode().split() if found and isinstance(found[0], bytes) else []
        result = PollResult(remaining=max(0, len(uids) - limit))
        for uid in uids[:limit]:
            size = _imap_size(client, uid)
            if reading.too_large(size, f"UID {uid}", result):
                _imap_remove(client, uid, mailbox, caps)
                continue
            raw = _imap_fetch(client, uid) if size is not None else None
            if raw is None:  # removed meanwhile by another client
                continue
            if _handled(reading.handle, raw, f"UID {uid} in {mailbox}"):
                _imap_remove(client, uid, mailbox, caps)
                result.handled += 1
            else:
                result.failed += 1
        client.close()
        return result
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError):
                client.shutdown()


# POP3 ------------------------------------------------------------------------------------


def _pop3_connect(mailbox: MailboxURL, timeout: float, context: ssl.SSLContext) -> poplib.POP3:
    client: poplib.POP3
    if mailbox.implicit_tls:
        client = poplib.POP3_SSL(mailbox.host, mailbox.port, timeout=timeout, context=context)
    else:
        client = poplib.POP3(mailbox.host, mailbox.port, timeout=timeout)
    try:
        if not mailbox.implicit_tls and mailbox.starttls == "required":
            _pop3_starttls(client, mailbox, context)
        client.user(mailbox.user)
        client.pass_(mailbox.password)
    except BaseException:
        with contextlib.suppress(OSError):
            client.close()
        raise
    return client


def _pop3_starttls(client: poplib.POP3, mailbox: MailboxURL, context: ssl.SSLContext) -> None:
    try:
        offered = "STLS" in client.capa()
    except poplib.error_proto:
        offered = False
    if not offered:
        raise MailboxError(_NO_STARTTLS.format(mailbox=mailbox, command="STLS"))
    client.stls(context=context)


def _poll_pop3(reading: _Reading, timeout: float, context: ssl.SSLContext) -> PollResult:
    """POP3 deletes only at QUIT: a session that breaks off first deletes nothing, and
    every message is read again (never lost)."""
    mailbox, limit = reading.mailbox, reading.limit
    client = _pop3_connect(mailbox, timeout, context)
    try:
        count = int(client.stat()[0])
        result = PollResult(remaining=max(0, count - limit))
        for number in range(1, min(count, limit) + 1):
            size = int(cast(bytes, client.list(number)).split()[2])  # b"+OK 1 4096"
            if reading.too_large(size, f"{number}", result):
                client.dele(number)
                continue
            lines = client.retr(number)[1]
            raw = b"".join(line + b"\r\n" for line in lines)
            if _handled(reading.handle, raw, f"{number} in {mailbox}"):
                client.dele(number)
                result.handled += 1
            else:
                result.failed += 1
    except BaseException:
        with contextlib.suppress(OSError):
            client.close()
        raise
    client.quit()
    return result
