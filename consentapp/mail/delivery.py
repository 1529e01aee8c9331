"""Delivering the outbox: claim due rows with a lease, send, record the outcome.

Each row is committed as sent right after the SMTP server accepts it, so a crash
re-sends at most the one message that was in flight. Temporary failures (connection
refused, timeouts, 4xx replies) are retried with exponential backoff; permanent
ones (5xx for the recipient or the content) are recorded and not retried.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

import dkim
import sqlalchemy as sa
from flask import current_app
from flask_mail import Connection, Message

from consentapp.extensions import db
from consentapp.models import Campaign, CampaignStatus, OutboundEmail, OutboundStatus, utcnow
from consentapp.services.campaigns import note_delivery
from consentapp.services.subscriptions import consent_still_given

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
MAX_ERROR_LENGTH = 1000


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Rows this pass took a decision on."""
        return self.sent + self.retrying + self.failed + self.cancelled


class PermanentFailure(Exception):
    """The server refused this message for good (5xx for the recipient or content)."""


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


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, never more than an hour."""
    doublings = min(max(attempts - 1, 0), 16)
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


def claim_due(now: datetime, limit: int) -> list[OutboundEmail]:
    """Take up to `limit` due rows for this pass; no other worker gets them meanwhile."""
    held_campaigns = sa.select(Campaign.id).where(
        Campaign.status.in_([CampaignStatus.PAUSED.value, CampaignStatus.CANCELLED.value])
    )
    claimable = sa.and_(
        sa.or_(
            sa.and_(
                OutboundEmail.status == OutboundStatus.PENDING.value,
                OutboundEmail.next_attempt_at <= now,
            ),
            sa.and_(
                OutboundEmail.status == OutboundStatus.SENDING.value,
                OutboundEmail.lease_until < now,
            ),
        ),
        # Messages of a paused or cancelled campaign wait (or are cancelled).
        sa.or_(
            OutboundEmail.campaign_id.is_(None),
            OutboundEmail.campaign_id.not_in(held_campaigns),
        ),
    )
    candidates = (
        sa.select(OutboundEmail.id)
        .where(claimable)
        .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(candidates))
    if not ids:
        db.session.rollback()
        return []
    token = secrets.token_hex(8)
    db.session.execute(
        sa.update(OutboundEmail)
        .where(OutboundEmail.id.in_(ids), claimable)
        .values(
            status=OutboundStatus.SENDING.value,
            lease_until=now + LEASE,
            claim_token=token,
        )
    )
    db.session.commit()
    rows = db.session.scalars(
        sa.select(OutboundEmail)
        .where(OutboundEmail.claim_token == token)
        .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
    )
    return list(rows)


def build_message(row: OutboundEmail) -> Message:
    """The Flask-Mail message for an outbox row, keeping the row's Message-ID."""
    headers = dict(row.headers or {})
    reply_to = headers.pop("Reply-To", None)
    message = Message(
        subject=row.subject,
        recipients=[row.to_address],
        body=row.body_text,
        html=row.body_html,
        reply_to=reply_to,
        extra_headers=headers or None,
    )
    message.msgId = row.message_id
    return message


def message_bytes(row: OutboundEmail) -> bytes:
    """The message as sent: DKIM-signed when DKIM_DOMAIN/SELECTOR/KEY_PATH are set, with
    the unsubscribe headers among the signed ones."""
    message = build_message(row)
    message.date = time.time()
    raw: bytes = message.as_bytes()
    config = current_app.config
    if config["DKIM_DOMAIN"] and config["DKIM_SELECTOR"] and config["DKIM_KEY_PATH"]:
        key = Path(config["DKIM_KEY_PATH"]).read_bytes()
        signature = dkim.sign(
            raw,
            config["DKIM_SELECTOR"].encode(),
            config["DKIM_DOMAIN"].encode(),
            key,
            include_headers=[header.encode() for header in DKIM_HEADERS],
        )
        raw = signature + raw
    return raw


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
    "MIME-Version",
    "Content-Type",
)


def _send(connection: TimeoutConnection, row: OutboundEmail) -> None:
    sender = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    assert connection.host is not None
    connection.host.sendmail(sender, [row.to_address], message_bytes(row))


def _classify(exc: Exception) -> bool:
    """True when the failure is permanent for this message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]


def _record_success(row: OutboundEmail) -> None:
    row.status = OutboundStatus.SENT.value
    row.attempts += 1
    row.sent_at = utcnow()
    row.last_error = None
    row.lease_until = None
    row.claim_token = None


def _record_failure(row: OutboundEmail, exc: Exception, now: datetime, permanent: bool) -> None:
    row.attempts += 1
    row.last_error = _describe(exc)
    row.lease_until = None
    row.claim_token = None
    if permanent:
        row.status = OutboundStatus.FAILED.value
    else:
        row.status = OutboundStatus.PENDING.value
        row.next_attempt_at = now + retry_delay(row.attempts)


def _cancel(row: OutboundEmail) -> None:
    """Consent was withdrawn after the mail was queued: it must not go out."""
    row.status = OutboundStatus.CANCELLED.value
    row.last_error = "consent withdrawn before sending"
    row.lease_until = None
    row.claim_token = None


def _release(rows: list[OutboundEmail]) -> None:
    """Give untried rows back without counting an attempt."""
    for row in rows:
        row.status = OutboundStatus.PENDING.value
        row.lease_until = None
        row.claim_token = None


TEMPORARY_ERRORS = (smtplib.SMTPException, OSError, socket.timeout)


def _deliver_one(
    connection: TimeoutConnection, row: OutboundEmail, now: datetime, report: DeliveryReport
) -> bool:
    """Send one row (or cancel it); True when the connection is gone for the rest."""
    if row.requires_subscription and not consent_still_given(row):
        _cancel(row)
        report.cancelled += 1
        return False
    try:
        _send(connection, row)
    except TEMPORARY_ERRORS as exc:
        permanent = _classify(exc)
        _record_failure(row, exc, now, permanent=permanent)
        report.errors.append(_describe(exc))
        if row.campaign_id is not None:
            note_delivery(row.campaign_id, success=False)
        if permanent:
            report.failed += 1
            return False
        report.retrying += 1
        return isinstance(exc, smtplib.SMTPServerDisconnected | OSError)
    _record_success(row)
    if row.campaign_id is not None:
        note_delivery(row.campaign_id, success=True)
    report.sent += 1
    return False


def _hourly_allowance(now: datetime) -> int:
    """How many more mails MAIL_RATE_PER_HOUR allows in the hour up to `now`."""
    per_hour = int(current_app.config["MAIL_RATE_PER_HOUR"])
    if not per_hour:
        return 1 << 30
    sent = db.session.scalar(
        sa.select(sa.func.count(OutboundEmail.id)).where(
            OutboundEmail.status == OutboundStatus.SENT.value,
            OutboundEmail.sent_at >= now - timedelta(hours=1),
        )
    )
    return max(per_hour - int(sent or 0), 0)


def deliver_due(now: datetime | None = None, limit: int | None = None) -> DeliveryReport:
    """One delivery pass over the due outbox rows, on one reused SMTP connection."""
    now = now or utcnow()
    limit = min(limit or current_app.config["MAIL_BATCH_SIZE"], _hourly_allowance(now))
    report = DeliveryReport()
    rows = claim_due(now, limit) if limit > 0 else []
    if not rows:
        return report

    connection = TimeoutConnection(current_app.extensions["mail"])
    try:
        connection.host = connection.configure_host()
    except TEMPORARY_ERRORS as exc:
        for row in rows:
            _record_failure(row, exc, now, permanent=False)
        db.session.commit()
        report.retrying = len(rows)
        report.errors.append(_describe(exc))
        log.warning("SMTP server unavailable, %d mails wait: %s", len(rows), exc)
        return report

    pause = (
        1 / current_app.config["MAIL_RATE_PER_SECOND"]
        if current_app.config["MAIL_RATE_PER_SECOND"]
        else 0
    )
    try:
        for index, row in enumerate(rows):
            if pause and index:
                time.sleep(pause)
            connection_lost = _deliver_one(connection, row, now, report)
            if row.delete_after_send and row.status != OutboundStatus.PENDING.value:
                # The last mail to an erased person: nothing of it stays behind.
                db.session.delete(row)
            if connection_lost:
                _release(rows[index + 1 :])
            db.session.commit()
            if row in db.session:
                # Done with it: a commit would otherwise expire every row of the batch.
                db.session.expunge(row)
            if connection_lost:
                break
    finally:
        connection.close()
    return report
