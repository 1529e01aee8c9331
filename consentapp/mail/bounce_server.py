"""The SMTP server that is the MX of BOUNCE_DOMAIN: it takes in bounce and complaint
reports and nothing else.

It accepts a recipient only at BOUNCE_DOMAIN itself (550 at RCPT for any other, so it can
never relay), limits the message size, offers no AUTH, and never sends or answers mail.
Each accepted message goes to a callback, run off the event loop, that puts the report
in a queue and commits: the 250 comes only after that returned, so a 250 means the
report is safe; a failing callback answers 451 and the sender retries later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

log = logging.getLogger(__name__)

ReportCallback = Callable[[bytes, list[str]], None]

# A report names one bounce address; more than a few recipients is not a report.
MAX_RECIPIENTS = 50
# Reports handled at once (each holds a database connection while it commits).
CALLBACK_THREADS = 4


def at_domain(address: str, domain: str) -> bool:
    """Whether `address` is at `domain` exactly (case-insensitive; subdomains are not)."""
    local, at, host = address.strip().rpartition("@")
    return bool(at and local) and host.rstrip(".").lower() == domain.strip().rstrip(".").lower()


class BounceHandler:
    """aiosmtpd handler: recipients only at the bounce domain, each message to the callback."""

    def __init__(
        self, domain: str, on_report: ReportCallback, executor: ThreadPoolExecutor | None = None
    ) -> None:
        if not domain.strip():
            raise ValueError("the bounce server needs a domain (BOUNCE_DOMAIN)")
        self.domain = domain.strip()
        self.on_report = on_report
        self.executor = executor

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if not at_domain(address, self.domain):
            return f"550 5.1.1 <{address}>: this server takes mail for {self.domain} only"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content
        body = raw if isinstance(raw, bytes) else bytes(raw or b"")
        recipients = list(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.executor, self.on_report, body, recipients)
        except Exception:
            log.exception("bounce report for %s not taken in; the sender will retry", recipients)
            return "451 4.3.0 Report not stored, try again later"
        return "250 2.0.0 Report received"


class BounceServer:
    """The bounce SMTP server on host:port in a background thread, with its callback threads."""

    def __init__(
        self,
        host: str,
        port: int,
        domain: str,
        on_report: ReportCallback,
        *,
        max_message_bytes: int,
    ) -> None:
        self.host = host
        self.port = port
        self.executor = ThreadPoolExecutor(CALLBACK_THREADS, thread_name_prefix="bounce-report")
        self.handler = BounceHandler(domain, on_report, self.executor)
        self.controller = Controller(
            self.handler,
            hostname=host,
            port=port,
            ready_timeout=10,
            server_hostname=self.handler.domain,
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
            auth_require_tls=True,
            auth_required=False,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )

    def start(self) -> None:
        """Listen; raises OSError when the port cannot be bound."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening, then wait for reports being committed."""
        self.controller.stop()
        self.executor.shutdown(wait=True)


def start_bounce_server(
    host: str, port: int, domain: str, on_report: ReportCallback, *, max_message_bytes: int
) -> BounceServer:
    """A started bounce server; call `stop()` on it to end it."""
    server = BounceServer(host, port, domain, on_report, max_message_bytes=max_message_bytes)
    server.start()
    return server
