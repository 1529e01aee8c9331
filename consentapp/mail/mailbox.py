"""Reading bounce reports from a mailbox (BOUNCE_MAILBOX_URL) over IMAP or POP3.

Each message is handed to a handler that commits it (to the inbound report queue), and
only once that returned is the message deleted (or moved): a crash in between leaves
it in the mailbox to be read again on the next poll, so a report is never lost, at
worst read twice (the queue's processing is idempotent). A handler that raises leaves
its message where it is.

    imaps://user:password@host[:port]/INBOX      (TLS, port 993)
    imap://user:password@host[:port]/INBOX       (STARTTLS when offered; ?starttls=no, =required)
    pop3s://user:password@host[:port]            (TLS, port 995)
    pop3://user:password@host[:port]             (STLS when offered; ?starttls=no, =required)
    ...?move=Processed                           (IMAP: move instead of delete)

Certificates are verified against the system's store (plus `ca_file`, if given).
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
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

Handler = Callable[[bytes], object]

DEFAULT_PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}
STARTTLS_CHOICES = ("auto", "no", "required")
_BODY = re.compile(rb"BODY\[\]", re.IGNORECASE)


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
    starttls: str = "auto"
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
    starttls = options.get("starttls", "auto").lower()
    if starttls not in STARTTLS_CHOICES:
        raise ValueError("BOUNCE_MAILBOX_URL: starttls must be no or required")
    if starttls != "auto" and scheme.endswith("s"):
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

    def __str__(self) -> str:
        return (
            f"{self.handled} message(s) taken in and removed, {self.failed} left after an "
            f"error, {self.remaining} left for the next poll"
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
) -> PollResult:
    """Read up to `limit` messages, hand each to `handle`, remove those it took.

    Raises ValueError for a bad URL and MailboxError when the server cannot be used."""
    mailbox = parse_url(url)
    context = tls_context(ca_file)
    try:
        if mailbox.imap:
            return _poll_imap(mailbox, handle, limit, timeout, context)
        return _poll_pop3(mailbox, handle, limit, timeout, context)
    except (imaplib.IMAP4.error, poplib.error_proto, OSError, EOFError) as exc:
        raise MailboxError(f"{mailbox}: {type(exc).__name__}: {exc}") from exc


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
    if not mailbox.implicit_tls:
        offered = "STARTTLS" in client.capabilities
        if mailbox.starttls == "required" and not offered:
            raise MailboxError(f"{mailbox}: the server offers no STARTTLS (starttls=required)")
        if offered and mailbox.starttls != "no":
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


def _poll_imap(
    mailbox: MailboxURL, handle: Handler, limit: int, timeout: float, context: ssl.SSLContext
) -> PollResult:
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
            raw = _imap_fetch(client, uid)
            if raw is None:  # removed meanwhile by another client
                continue
            if _handled(handle, raw, f"UID {uid} in {mailbox}"):
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
        if not mailbox.implicit_tls:
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
    if mailbox.starttls == "required" and not offered:
        raise MailboxError(f"{mailbox}: the server offers no STLS (starttls=required)")
    if offered and mailbox.starttls != "no":
        client.stls(context=context)


def _poll_pop3(
    mailbox: MailboxURL, handle: Handler, limit: int, timeout: float, context: ssl.SSLContext
) -> PollResult:
    """POP3 deletes only at QUIT: a session that breaks off first deletes nothing, and
    every message is read again (never lost)."""
    client = _pop3_connect(mailbox, timeout, context)
    try:
        count = int(client.stat()[0])
        result = PollResult(remaining=max(0, count - limit))
        for number in range(1, min(count, limit) + 1):
            lines = client.retr(number)[1]
            raw = b"".join(line + b"\r\n" for line in lines)
            if _handled(handle, raw, f"{number} in {mailbox}"):
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
