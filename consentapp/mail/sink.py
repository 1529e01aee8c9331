"""A local SMTP server that keeps and shows every mail: for `make run` and the tests.

Under `make run` it stores each mail in the instance folder (`MailStore`) for the
development mailbox page `/dev/mail`, and prints one short line per mail."""

from __future__ import annotations

import email
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class MailSink:
    """aiosmtpd handler that keeps each received message; parsing waits until asked,
    so the server answers as fast as a real one while a test sends thousands."""

    def __init__(
        self,
        on_message: Callable[[EmailMessage, Envelope], None] | None = None,
        refuse: Iterable[str] = (),
    ):
        self.refuse = {address.strip().lower() for address in refuse if address.strip()}
        self.envelopes: list[Envelope] = []
        self._parsed: list[EmailMessage] = []
        self.on_message = on_message
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Refuse the chosen addresses the way a real server refuses an unknown user, so
        a refusal can be tried out locally (`mail-sink --refuse`)."""
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        """Called by aiosmtpd for each message accepted."""
        with self.lock:
            self.envelopes.append(envelope)
        if self.on_message:
            self.on_message(_parse(envelope), envelope)
        return "250 Message accepted for delivery"

    @property
    def count(self) -> int:
        """How many messages arrived (without parsing them)."""
        return len(self.envelopes)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message received so far, parsed."""
        with self.lock:
            while len(self._parsed) < len(self.envelopes):
                self._parsed.append(_parse(self.envelopes[len(self._parsed)]))
            return list(self._parsed)

    def clear(self) -> None:
        """Forget what was received so far."""
        with self.lock:
            self._parsed.clear()
            self.envelopes.clear()


def _parse(envelope: Envelope) -> EmailMessage:
    raw = envelope.original_content or envelope.content
    assert isinstance(raw, bytes)
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def start_sink(host: str, port: int, handler: MailSink) -> Controller:
    """Start an SMTP server on host:port in a background thread."""
    controller = Controller(handler, hostname=host, port=port, ready_timeout=10)
    controller.start()
    return controller


MAILBOX_KEEP = 200


@dataclass(frozen=True)
class StoredMail:
    """A mail the sink kept: its file name (the id in the mailbox page) and headers."""

    name: str
    received: datetime
    to: str
    subject: str


class MailStore:
    """The sink's mails as `.eml` files in one folder (the instance folder's
    `dev-mail/`), where the development web process reads them for `/dev/mail`. Only
    the last `keep` are kept."""

    NAME = re.compile(r"^[0-9]{20}-[0-9a-f]{8}\.eml$")

    def __init__(self, folder: Path, keep: int = MAILBOX_KEEP) -> None:
        self.folder = folder
        self.keep = keep

    def save(self, raw: bytes) -> str:
        """Keep one mail; the oldest beyond `keep` go. Returns its name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{secrets.token_hex(4)}.eml"
        (self.folder / f".{name}").write_bytes(raw)
        (self.folder / f".{name}").rename(self.folder / name)
        for old in self._names()[self.keep :]:
            (self.folder / old).unlink(missing_ok=True)
        return name

    def _names(self) -> list[str]:
        """Stored mail names, newest first."""
        if not self.folder.is_dir():
            return []
        names = (path.name for path in self.folder.iterdir())
        return sorted((name for name in names if self.NAME.match(name)), reverse=True)

    def latest(self, limit: int = 50) -> list[StoredMail]:
        """The newest mails first, at most `limit`."""
        mails = []
        for name in self._names()[:limit]:
            message = self.message(name)
            if message is not None:
                received = datetime.fromtimestamp(int(name[:20]) / 1e9, UTC)
                mails.append(
                    StoredMail(
                        name, received, str(message["To"] or ""), str(message["Subject"] or "")
                    )
                )
        return mails

    def message(self, name: str) -> EmailMessage | None:
        """One stored mail, parsed; None for an unknown or malformed name."""
        path = self.folder / name
        if not self.NAME.match(name) or not path.is_file():
            return None
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        assert isinstance(message, EmailMessage)
        return message


def store_and_announce(
    store: MailStore, mailbox_url: str
) -> Callable[[EmailMessage, Envelope], None]:
    """The `mail-sink` callback: keep the mail for the mailbox page and print one line."""

    def on_message(message: EmailMessage, envelope: Envelope) -> None:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        store.save(raw)
        print(short_line(message, envelope, mailbox_url), flush=True)

    return on_message


def short_line(message: EmailMessage, envelope: Envelope, mailbox_url: str) -> str:
    """One line for a received mail: to whom, its subject, where to read it."""
    subject = str(message["Subject"] or "")
    subject = subject if len(subject) <= 60 else subject[:57] + "..."
    return f"MAIL to {', '.join(envelope.rcpt_tos)}: {subject}  (read it at {mailbox_url})"
