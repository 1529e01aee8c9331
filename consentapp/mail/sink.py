"""A local SMTP server that keeps and shows every mail: for `make run` and the tests."""

from __future__ import annotations

import email
import threading
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from email.policy import default as default_policy
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


def print_message(message: EmailMessage, envelope: Envelope) -> None:
    """Show a received mail on the terminal: headers that matter and the text part."""
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else "(no text part)"
    rule = "-" * 72
    lines = [
        rule,
        f"MAIL to {', '.join(envelope.rcpt_tos)}",
        f"Subject: {message['Subject']}",
        f"From: {message['From']}",
    ]
    lines += [
        f"{name}: {message[name]}"
        for name in ("Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post")
        if message[name]
    ]
    lines += ["", text.rstrip(), rule]
    print("\n".join(lines), flush=True)
