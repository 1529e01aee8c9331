"""Delivering the outbox: claim due rows with a lease, send, record the outcome.

Each message is committed as sent right after the SMTP server accepts it, so a
crash re-sends at most the one message that was in flight. Temporary failures
(connection refused, timeouts, 4xx replies) are retried with exponential backoff;
permanent ones (5xx for the recipient or the content) are recorded and not retried.

The claimed rows are read once into plain `Outgoing` values and every outcome is a
single prepared UPDATE, so the per-message database work is one consent check, one
update and one commit. Messages of a campaign that is paused or cancelled while a
batch is under way stop within a second.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any, cast

import dkim
import sqlalchemy as sa
from flask import current_app
from flask_mail import Connection

from consentapp.extensions import db
from consentapp.mail.mime import MalformedHeader, ascii_address, compose
from consentapp.models import Campaign, CampaignStatus, OutboundEmail, OutboundStatus, utcnow
from consentapp.services.campaigns import HOLDING_STATUSES, campaigns_holding, note_delivery
from consentapp.services.subscriptions import consent_still_given

log = logging.getLogger(__name__)

# However long the lease, a pass gives its rest back after this, so the hourly
# allowance and the order of due rows are looked at again now and then.
MAX_PASS_SECONDS = 150.0
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


OUTBOX = cast(sa.Table, OutboundEmail.__table__)
HOLD_CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed outbox row, read once; the worker sends from this."""

    id: int
    to_address: str
    subject: str
    body_text: str
    body_html: str
    headers: dict[str, str]
    message_id: str
    attempts: int
    requires_subscription: bool
    contact_id: int | None
    topic_id: int | None
    campaign_id: int | None
    delete_after_send: bool
    claim_token: str


OUTGOING_COLUMNS = [OUTBOX.c[name] for name in Outgoing.__dataclass_fields__]


def _not_held() -> sa.ColumnElement[bool]:
    """Messages of a paused or cancelled campaign wait (or are cancelled)."""
    held_campaigns = sa.select(Campaign.id).where(Campaign.status.in_(HOLDING_STATUSES))
    return sa.or_(
        OUTBOX.c.campaign_id.is_(None),
        OUTBOX.c.campaign_id.not_in(held_campaigns),
    )


def _pending(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(OUTBOX.c.status == OutboundStatus.PENDING.value, OUTBOX.c.next_attempt_at <= now)


def _abandoned(now: datetime) -> sa.ColumnElement[bool]:
    """Claimed by a worker that did not finish before its lease ran out."""
    return sa.and_(OUTBOX.c.status == OutboundStatus.SENDING.value, OUTBOX.c.lease_until < now)


def _due_ids(now: datetime, limit: int) -> list[int]:
    """Abandoned rows first, then pending ones in due order. Two queries, each walking
    an index in order, so a claim costs the same with 100 or 1,000,000 rows queued."""
    picked: list[int] = []
    for condition, order in (
        (_abandoned(now), (OUTBOX.c.id,)),
        (_pending(now), (OUTBOX.c.next_attempt_at, OUTBOX.c.id)),
    ):
        query = (
            sa.select(OUTBOX.c.id)
            .where(condition, _not_held())
            .order_by(*order)
            .limit(limit - len(picked))
        )
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        picked += db.session.scalars(query)
        if len(picked) >= limit:
            break
    return picked


def _cancel_leftovers(now: datetime) -> None:
    """Rows of a cancelled campaign that no worker holds (waiting, or left by a worker
    that died) are cancelled, so the campaign's report has nothing left to send."""
    cancelled = sa.select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED.value)
    db.session.execute(
        sa.update(OUTBOX)
        .where(
            OUTBOX.c.campaign_id.in_(cancelled),
            sa.or_(OUTBOX.c.status == OutboundStatus.PENDING.value, _abandoned(now)),
        )
        .values(
            status=OutboundStatus.CANCELLED.value,
            last_error="campaign cancelled",
            lease_until=None,
            claim_token=None,
        )
    )


def lease_length() -> timedelta:
    """MAIL_LEASE_SECONDS: how long a claim holds without being renewed."""
    return timedelta(seconds=float(current_app.config["MAIL_LEASE_SECONDS"]))


def claim_due(now: datetime, limit: int) -> list[Outgoing]:
    """Take up to `limit` due rows for this pass; no other worker gets them while the
    lease holds (see `Lease` for how it is kept alive)."""
    _cancel_leftovers(now)
    ids = _due_ids(now, limit)
    if not ids:
        db.session.commit()
        return []
    token = secrets.token_hex(8)
    db.session.execute(
        sa.update(OUTBOX)
        .where(
            OUTBOX.c.id.in_(ids),
            sa.or_(_pending(now), _abandoned(now)),
            _not_held(),
        )
        .values(
            status=OutboundStatus.SENDING.value,
            lease_until=now + lease_length(),
            claim_token=token,
        )
    )
    db.session.commit()
    rows = db.session.execute(
        sa.select(*OUTGOING_COLUMNS)
        .where(OUTBOX.c.id.in_(ids), OUTBOX.c.claim_token == token)
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
    )
    claimed = [Outgoing(**row._mapping) for row in rows]
    db.session.commit()
    return claimed


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


class Composer:
    """Turns outbox rows into the bytes sent, DKIM-signed when DKIM_DOMAIN, DKIM_SELECTOR
    and DKIM_KEY_PATH are set (the unsubscribe headers are among the signed ones)."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.sender = config["MAIL_DEFAULT_SENDER"]
        if isinstance(self.sender, tuple):
            self.sender = f"{self.sender[0]} <{self.sender[1]}>"
        self.envelope_from = ascii_address(parseaddr(self.sender)[1])
        self.dkim: tuple[bytes, bytes, bytes] | None = None
        if config["DKIM_DOMAIN"] and config["DKIM_SELECTOR"] and config["DKIM_KEY_PATH"]:
            self.dkim = (
                config["DKIM_SELECTOR"].encode(),
                config["DKIM_DOMAIN"].encode(),
                Path(config["DKIM_KEY_PATH"]).read_bytes(),
            )

    def message_bytes(self, row: Outgoing) -> bytes:
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
            selector, domain, key = self.dkim
            raw = (
                dkim.sign(
                    raw,
                    selector,
                    domain,
                    key,
                    include_headers=[header.encode() for header in DKIM_HEADERS],
                )
                + raw
            )
        return raw


def _classify(exc: Exception) -> bool:
    """True when the failure is permanent for this message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return False


def _connection_gone(exc: Exception) -> bool:
    """True when the failure ended the SMTP session, not just this message (a 4xx for
    one recipient, greylisting say, leaves the others to go on)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421  # the server is closing the connection
    if isinstance(exc, smtplib.SMTPException):
        return False
    return isinstance(exc, OSError)  # refused, reset, timed out


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]


def _ours(row: Outgoing) -> sa.ColumnElement[bool]:
    """The row, as long as this pass still holds its claim."""
    return sa.and_(OUTBOX.c.id == row.id, OUTBOX.c.claim_token == row.claim_token)


def _finish(row: Outgoing, **values: Any) -> None:
    """Record a final outcome; the last mail to an erased person leaves nothing behind
    (once accepted, refused for good or cancelled)."""
    if row.delete_after_send:
        db.session.execute(sa.delete(OUTBOX).where(_ours(row)))
        return
    db.session.execute(
        sa.update(OUTBOX).where(_ours(row)).values(lease_until=None, claim_token=None, **values)
    )


_MARK_SENT = (
    sa.update(OUTBOX)
    .where(OUTBOX.c.id == sa.bindparam("row"), OUTBOX.c.claim_token == sa.bindparam("token"))
    .values(
        status=OutboundStatus.SENT.value,
        attempts=sa.bindparam("attempts"),
        sent_at=sa.bindparam("sent_at"),
        last_error=None,
        lease_until=None,
        claim_token=None,
    )
)


def _record_success(row: Outgoing) -> None:
    if row.delete_after_send:
        _finish(row)
        return
    db.session.execute(
        _MARK_SENT,
        {
            "row": row.id,
            "token": row.claim_token,
            "attempts": row.attempts + 1,
            "sent_at": utcnow(),
        },
    )


def _record_failure(row: Outgoing, exc: Exception, now: datetime, permanent: bool) -> None:
    if permanent:
        _finish(
            row,
            status=OutboundStatus.FAILED.value,
            attempts=row.attempts + 1,
            last_error=_describe(exc),
        )
        return
    db.session.execute(
        sa.update(OUTBOX)
        .where(_ours(row))
        .values(
            status=OutboundStatus.PENDING.value,
            attempts=row.attempts + 1,
            last_error=_describe(exc),
            next_attempt_at=now + retry_delay(row.attempts + 1),
            lease_until=None,
            claim_token=None,
        )
    )


def _cancel(row: Outgoing, reason: str) -> None:
    """The mail must not go out (consent withdrawn, campaign cancelled)."""
    _finish(row, status=OutboundStatus.CANCELLED.value, last_error=reason)


def _release(rows: Sequence[Outgoing]) -> None:
    """Give untried rows back without counting an attempt."""
    if rows:
        db.session.execute(
            sa.update(OUTBOX)
            .where(
                OUTBOX.c.id.in_([row.id for row in rows]),
                OUTBOX.c.claim_token == rows[0].claim_token,
            )
            .values(status=OutboundStatus.PENDING.value, lease_until=None, claim_token=None)
        )


TEMPORARY_ERRORS = (smtplib.SMTPException, OSError, socket.timeout)


class Lease:
    """Keeps a pass's claim alive while the pass runs, and only while it runs.

    The lease is short (MAIL_LEASE_SECONDS, 15 s by default) so that the rows of a
    worker that died (SIGKILL, OOM, a machine gone) are taken over by any other worker,
    or by the same one started again, within that time. No process ids are involved,
    so this works across machines.

    A live pass renews it every third of its length from a thread of its own, on a
    connection of its own: one UPDATE for the whole batch, not one per message. The
    thread is what makes the numbers hold whatever the SMTP server does: a single
    send may wait MAIL_TIMEOUT (20 s) for each of its several SMTP replies, longer
    than the lease, and the renewal goes on meanwhile. Should renewals fail (the
    database unreachable), the pass starts no further message once half the lease
    has passed since the last one that succeeded, so it never sends a row another
    worker may already have taken; at most the message in flight arrives twice.
    """

    def __init__(self, rows: Sequence[Outgoing], now: datetime, length: timedelta) -> None:
        self.engine = db.engine
        self.ids = [row.id for row in rows]
        self.token = rows[0].claim_token
        self.now = now
        self.length = length
        self.renewed = self.started = time.monotonic()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._keep, name="outbox-lease", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """End the renewals (call with no transaction of the pass open)."""
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()

    def clock(self) -> datetime:
        """The claim's `now`, moved on by the time since."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def holds(self) -> bool:
        """True while the last confirmed lease has more than half its length to run."""
        return time.monotonic() - self.renewed < self.length.total_seconds() / 2

    def renew(self) -> None:
        """Push the lease of the rows this pass still holds one full length ahead."""
        started = time.monotonic()
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(OUTBOX)
                .where(OUTBOX.c.id.in_(self.ids), OUTBOX.c.claim_token == self.token)
                .values(lease_until=self.clock() + self.length)
            )
        self.renewed = started

    def _keep(self) -> None:
        interval = self.length.total_seconds() / 3
        while not self.stopped.wait(interval):
            try:
                self.renew()
            except sa.exc.SQLAlchemyError as exc:
                log.warning("could not renew the outbox lease: %s", exc)


class Pass:
    """One delivery pass over a claimed batch, on one SMTP connection."""

    def __init__(
        self, rows: list[Outgoing], now: datetime, report: DeliveryReport, lease: Lease
    ) -> None:
        self.rows = rows
        self.lease = lease
        self.now = now
        self.report = report
        self.composer = Composer(current_app.config)
        self.campaigns = {row.campaign_id for row in rows if row.campaign_id is not None}
        # Campaigns whose failure streak may need resetting by the next success.
        self.streaks = set(self.campaigns)
        self.held: set[int] = set()
        self.cancelled: set[int] = set()
        self.started = self.checked_holds = time.monotonic()

    def clock(self) -> datetime:
        """The pass's `now`, moved on by the time the pass has taken so far."""
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def check_holds(self, force: bool = False) -> None:
        """Notice campaigns paused or cancelled meanwhile (at most once a second)."""
        since = time.monotonic() - self.checked_holds
        if not self.campaigns or not (force or since >= HOLD_CHECK_SECONDS):
            return
        self.checked_holds = time.monotonic()
        holding = campaigns_holding(sorted(self.campaigns))
        self.held = set(holding)
        self.cancelled = {
            campaign_id
            for campaign_id, status in holding.items()
            if status == CampaignStatus.CANCELLED.value
        }
        db.session.commit()

    def deliver_one(self, connection: TimeoutConnection, row: Outgoing) -> bool:
        """Send one row (or cancel it); True when the connection is gone for the rest."""
        report = self.report
        if row.requires_subscription and not consent_still_given(row.contact_id, row.topic_id):
            _cancel(row, "consent withdrawn before sending")
            report.cancelled += 1
            return False
        try:
            raw = self.composer.message_bytes(row)
            recipient = ascii_address(row.to_address)
        except MalformedHeader as exc:
            # Nothing a retry can mend: record it and go on with the others.
            _record_failure(row, exc, self.clock(), permanent=True)
            report.errors.append(_describe(exc))
            report.failed += 1
            return False
        try:
            assert connection.host is not None
            connection.host.sendmail(self.composer.envelope_from, [recipient], raw)
        except TEMPORARY_ERRORS as exc:
            permanent = _classify(exc)
            _record_failure(row, exc, self.clock(), permanent=permanent)
            report.errors.append(_describe(exc))
            if row.campaign_id is not None:
                self.streaks.add(row.campaign_id)
                if note_delivery(row.campaign_id, success=False):
                    self.held.add(row.campaign_id)
            if permanent:
                report.failed += 1
                return False
            report.retrying += 1
            return _connection_gone(exc)
        _record_success(row)
        if row.campaign_id in self.streaks:
            note_delivery(row.campaign_id, success=True)
            self.streaks.discard(row.campaign_id)
        report.sent += 1
        return False

    def run(self, connection: TimeoutConnection) -> None:
        config = current_app.config
        pause = 1 / config["MAIL_RATE_PER_SECOND"] if config["MAIL_RATE_PER_SECOND"] else 0
        deadline = self.started + MAX_PASS_SECONDS
        waiting: list[Outgoing] = []
        index = 0
        try:
            for index, row in enumerate(self.rows):
                if pause and index:
                    time.sleep(pause)
                # Past the deadline, or with a lease that may have run out, the rest
                # goes back: another worker could otherwise send rows we still hold.
                if time.monotonic() > deadline or not self.lease.holds():
                    waiting.extend(self.rows[index:])
                    break
                self.check_holds()
                if row.campaign_id in self.held:
                    waiting.append(row)
                    continue
                connection_lost = self.deliver_one(connection, row)
                if connection_lost:
                    waiting.extend(self.rows[index + 1 :])
                db.session.commit()
                if connection_lost:
                    break
        except Exception:
            # Whatever went wrong, the rows not done are given back at once rather
            # than left claimed until the lease runs out.
            db.session.rollback()
            self.lease.stop()
            self.put_back(waiting + self.rows[index:])
            raise
        finally:
            self.lease.stop()
        self.put_back(waiting)

    def put_back(self, rows: list[Outgoing]) -> None:
        """Rows not tried: those of a cancelled campaign are cancelled, the rest wait."""
        rows = list({row.id: row for row in rows}.values())
        if not rows:
            return
        self.check_holds(force=True)
        for row in rows:
            if row.campaign_id in self.cancelled:
                _cancel(row, "campaign cancelled")
                self.report.cancelled += 1
        _release([row for row in rows if row.campaign_id not in self.cancelled])
        db.session.commit()


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
    lease = Lease(rows, now, lease_length())
    lease.start()
    try:
        _deliver_claimed(rows, now, report, lease)
    finally:
        lease.stop()
    return report


def _deliver_claimed(
    rows: list[Outgoing], now: datetime, report: DeliveryReport, lease: Lease
) -> None:
    connection = TimeoutConnection(current_app.extensions["mail"])
    try:
        connection.host = connection.configure_host()
    except TEMPORARY_ERRORS as exc:
        lease.stop()
        for row in rows:
            _record_failure(row, exc, now, permanent=False)
        db.session.commit()
        report.retrying = len(rows)
        report.errors.append(_describe(exc))
        log.warning("SMTP server unavailable, %d mails wait: %s", len(rows), exc)
        return
    try:
        Pass(rows, now, report, lease).run(connection)
    finally:
        connection.close()
