"""Talking to the SMTP server: a connection with timeouts, the bytes of a message
(DKIM-signed when configured), and what a failure means for the message.

Plumbing only: which mail may go out, and when, is decided by the delivery pass
(`services/delivery.py`).
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Protocol

from flask import current_app
from flask_mail import Connection

from consentapp.extensions import db
from consentapp.mail.dkim_sign import signer_for
from consentapp.mail.mime import ascii_address, compose
from consentapp.mail.verp import envelope_sender

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 1000  # the outbox's last_error column

# Every failure a send can end in that the outbox records (and, unless permanent, retries).
TEMPORARY_ERRORS = (smtplib.SMTPException, OSError, socket.timeout)

DKIM_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Feedback-ID",
    "MIME-Version",
    "Content-Type",
)


class TimeoutConnection(Connection):
    """Flask-Mail's connection with a socket timeout, so a stuck server cannot hang us."""

    def configure_host(self) -> smtplib.SMTP:
        timeout = current_app.config["MAIL_TIMEOUT"]
        host: smtplib.SMTP
        if self.mail.use_ssl:
            host = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=timeout)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=timeout)
        if self.mail.use_tls:
            host.starttls()
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def close(self) -> None:
        """Say goodbye, ignoring a server that already went away."""
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
            self.host = None


def open_connection() -> TimeoutConnection:
    """A connection to the configured server; raises one of TEMPORARY_ERRORS when the
    server cannot be reached."""
    connection = TimeoutConnection(current_app.extensions["mail"])
    connection.host = connection.configure_host()
    return connection


def open_connections(count: int) -> list[TimeoutConnection]:
    """Up to `count` connections to the server, as many as it accepts; raises one of
    TEMPORARY_ERRORS when it accepts none."""
    connections = [open_connection()]
    for _ in range(count - 1):
        try:
            connections.append(open_connection())
        except TEMPORARY_ERRORS as exc:
            log.info("SMTP server took %d connections, not more: %s", len(connections), exc)
            break
    return connections


def run_in_threads(passes: Sequence[Callable[[], None]]) -> None:
    """Run each pass on a thread of its own in an app context of its own; the first
    error is raised once all have ended."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    errors: list[BaseException] = []

    def run(one: Callable[[], None]) -> None:
        with app.app_context():
            try:
                one()
            except BaseException as exc:  # handed to the caller's thread
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(one,), name="smtp-connection") for one in passes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class Message(Protocol):
    """What the composer reads of a mail (an outbox row, claimed)."""

    @property
    def id(self) -> int: ...
    @property
    def to_address(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def body_text(self) -> str: ...
    @property
    def body_html(self) -> str: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def message_id(self) -> str: ...


class Composer:
    """Turns outbox rows into the bytes sent, DKIM-signed when DKIM_DOMAIN, DKIM_SELECTOR
    and DKIM_KEY_PATH are set, with Ed25519 as well when DKIM_ED25519_SELECTOR and
    DKIM_ED25519_KEY_PATH are (the unsubscribe headers are among the signed ones), and
    names each row's envelope sender: its own VERP address when BOUNCE_DOMAIN is set."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.sender = config["MAIL_DEFAULT_SENDER"]
        if isinstance(self.sender, tuple):
            self.sender = f"{self.sender[0]} <{self.sender[1]}>"
        self.envelope_from = ascii_address(parseaddr(self.sender)[1])
        self.bounce_domain: str | None = config["BOUNCE_DOMAIN"]
        self.dkim = signer_for(config)

    def envelope_for(self, row: Message) -> str:
        """The SMTP MAIL FROM for `row`: where its bounces go."""
        if self.bounce_domain:
            return envelope_sender(row.id, row.message_id, self.bounce_domain)
        return self.envelope_from

    def message_bytes(self, row: Message) -> bytes:
        """The message as it goes on the wire."""
        raw = compose(
            sender=self.sender,
            to=row.to_address,
            subject=row.subject,
            text=row.body_text,
            html=row.body_html,
            message_id=row.message_id,
            headers=row.headers,
        )
        if self.dkim is not None:
            raw = self.dkim.sign(raw, DKIM_HEADERS) + raw
        return raw


class ComposeAhead:
    """With DKIM on, the next message is composed and signed on a thread of its own
    while the current one is on the wire (OpenSSL signs without holding the GIL).
    Unsigned, composing costs less than handing it over, and is done in turn."""

    def __init__(self, composer: Composer) -> None:
        self.composer = composer
        self.pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="compose-ahead")
            if composer.dkim is not None
            else None
        )
        self.pending: dict[int, Future[bytes]] = {}

    def prepare(self, row: Message | None) -> None:
        """Start composing `row`, the message after the one about to go."""
        if self.pool is not None and row is not None and row.id not in self.pending:
            self.pending[row.id] = self.pool.submit(self.composer.message_bytes, row)

    def message_bytes(self, row: Message) -> bytes:
        """`Composer.message_bytes`, ready when it was prepared."""
        future = self.pending.pop(row.id, None)
        return self.composer.message_bytes(row) if future is None else future.result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()


def is_permanent(exc: Exception) -> bool:
    """True when the failure is permanent for this message (5xx for the recipient or
    the content): a retry would be refused the same way."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


_ENHANCED_STATUS = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class Refusal:
    """The server's answer when it refused this recipient or this message."""

    code: int
    text: str

    @property
    def status(self) -> str:
        """The enhanced status code (RFC 3463) the reply gives, else one from its code."""
        found = _ENHANCED_STATUS.search(self.text)
        return found.group(1) if found else f"{self.code // 100}.0.0"

    @property
    def diagnostic(self) -> str:
        return f"{self.code} {self.text}"[:MAX_ERROR_LENGTH]


def refusal(exc: Exception) -> Refusal | None:
    """The refusal at RCPT or after DATA that `exc` reports; None for a failure that is
    not about the recipient or the message (a connection lost, a server unreachable)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
        return Refusal(int(code), _text(text))
    if isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code != 421:
        return Refusal(exc.smtp_code, _text(exc.smtp_error))
    return None


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def connection_gone(exc: Exception) -> bool:
    """True when the failure ended the SMTP session, not just this message (a 4xx for
    one recipient, greylisting say, leaves the others to go on)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421  # the server is closing the connection
    if isinstance(exc, smtplib.SMTPException):
        return False
    return isinstance(exc, OSError)  # refused, reset, timed out


def describe(exc: Exception) -> str:
    """The failure as the outbox row keeps it."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
