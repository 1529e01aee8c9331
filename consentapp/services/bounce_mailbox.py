"""Reading the bounce mailbox (BOUNCE_MAILBOX_URL): `flask bounce-mailbox` and the
periodic job "bounce_mailbox".

Each message is put in the inbound report queue (committed) before the mailbox may
delete it; the queue is then read as the bounce server's reports are.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app

from consentapp.mail.mailbox import MailboxError, PollResult, parse_url, poll
from consentapp.services.bounces import process_queue, receive

log = logging.getLogger(__name__)

# Messages read per poll; the rest waits for the next one.
POLL_LIMIT = 500


@dataclass(frozen=True)
class MailboxRun:
    """One poll of the mailbox and the reading of the queue that followed."""

    mailbox: str
    poll: PollResult
    processed: int

    def __str__(self) -> str:
        return f"{self.mailbox}: {self.poll}; {self.processed} queued report(s) read."


def read_mailbox() -> MailboxRun:
    """Poll the mailbox once, then read the queue. ValueError for a bad (or missing)
    BOUNCE_MAILBOX_URL, MailboxError when the server cannot be used."""
    url = current_app.config.get("BOUNCE_MAILBOX_URL")
    if not url:
        raise ValueError("BOUNCE_MAILBOX_URL is not set, so there is no bounce mailbox to read")
    mailbox = str(parse_url(url))
    result = poll(
        url,
        _queue,
        limit=POLL_LIMIT,
        timeout=float(current_app.config["MAIL_TIMEOUT"]),
        ca_file=current_app.config.get("BOUNCE_MAILBOX_CA_FILE"),
        max_message_bytes=int(current_app.config["BOUNCE_MAX_MESSAGE_BYTES"]),
    )
    return MailboxRun(mailbox, result, process_queue())


def _queue(raw: bytes) -> None:
    receive("mailbox", raw)


def poll_job() -> MailboxRun | None:
    """The periodic job: a mailbox that cannot be read now is logged and tried again at
    the next interval (its messages stay where they are)."""
    try:
        run = read_mailbox()
    except (MailboxError, ValueError) as exc:
        log.warning("bounce mailbox not read: %s", exc)
        return None
    if run.poll.handled or run.poll.failed or run.poll.too_large:
        log.info("bounce mailbox: %s", run)
    return run
