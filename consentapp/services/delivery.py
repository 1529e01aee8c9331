"""The delivery pass: which claimed mail goes out, and what its outcome means.

Per message: consent is checked again just before sending (for the next 20 at a
time), messages of a paused or
cancelled campaign wait or are cancelled (noticed within a second), failures in a
row pause a campaign, and MAIL_RATE_PER_HOUR caps what all workers send together.
The outbox's claims and outcomes are `consentapp/mail/leases.py`, the SMTP side is
`consentapp/mail/transport.py`.

A pass sends over MAIL_CONNECTIONS connections side by side, each with its share of
the batch on a thread of its own. Each accepted message is recorded by the outcome
writer (`consentapp/mail/outcomes.py`) while the next ones go out, at most
MAIL_PIPELINE_DEPTH behind: a crash re-sends at most that many plus the one on the
wire of each connection. Temporary failures (connection refused, timeouts, 4xx
replies) are retried with exponential backoff; permanent ones (5xx for the recipient
or the content) are recorded and not retried.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.mail import leases
from consentapp.mail.leases import OUTBOX, Lease, Outgoing
from consentapp.mail.mime import MalformedHeader, ascii_address
from consentapp.mail.outcomes import OutcomeWriter
from consentapp.mail.reports import BounceKind, classify
from consentapp.mail.transport import (
    TEMPORARY_ERRORS,
    ComposeAhead,
    Composer,
    Refusal,
    TimeoutConnection,
    connection_gone,
    describe,
    is_permanent,
    open_connections,
    refusal,
    run_in_threads,
)
from consentapp.models import (
    BounceType,
    Campaign,
    CampaignStatus,
    OutboundEmail,
    OutboundStatus,
    utcnow,
)
from consentapp.services import bounces
from consentapp.services.campaign_audience import consent_still_given
from consentapp.services.campaign_sending import note_delivery
from consentapp.services.campaigns import HOLDING_STATUSES, campaigns_holding
from consentapp.services.storage_scrub import scrub_storage
from consentapp.services.undeliverable import undeliverable_among

log = logging.getLogger(__name__)

# However long the lease, a pass gives its rest back after this, so the hourly
# allowance and the order of due rows are looked at again now and then.
MAX_PASS_SECONDS = 150.0
HOLD_CHECK_SECONDS = 1.0
# Consent and deliverability are read again for this many messages at a time, just
# before they go (a withdrawal committed while they are on the wire, some 20 ms, is
# too late for them, as it would be a moment after the send).
CHECK_GROUP = 20


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        """Count in what another connection's pass did."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.cancelled += other.cancelled
        self.errors += other.errors

    @property
    def handled(self) -> int:
        """Rows this pass took a decision on."""
        return self.sent + self.retrying + self.failed + self.cancelled


def _not_held() -> sa.ColumnElement[bool]:
    """Messages of a paused or cancelled campaign wait (or are cancelled)."""
    held_campaigns = sa.select(Campaign.id).where(Campaign.status.in_(HOLDING_STATUSES))
    return sa.or_(
        OUTBOX.c.campaign_id.is_(None),
        OUTBOX.c.campaign_id.not_in(held_campaigns),
    )


def claim_due(now: datetime, limit: int) -> list[Outgoing]:
    """Take up to `limit` due rows for this pass, none of a campaign on hold. Rows of a
    cancelled campaign that no worker holds (waiting, or left by a worker that died)
    are cancelled first, so the campaign's report has nothing left to send."""
    cancelled = sa.select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED)
    leases.cancel_unclaimed(OUTBOX.c.campaign_id.in_(cancelled), now, "campaign cancelled")
    return leases.claim(now, limit, _not_held())


class Pass:
    """One delivery pass over a claimed batch, on one SMTP connection."""

    def __init__(
        self,
        rows: list[Outgoing],
        now: datetime,
        report: DeliveryReport,
        lease: Lease,
        outcomes: OutcomeWriter,
        pause: float = 0.0,
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
        self.refused: dict[int, str] = {}
        self.checked: set[int] = set()
        self.unsaved = False
        self.started = self.checked_holds = time.monotonic()
        self.outcomes = outcomes
        self.pause = pause
        self.ahead = ComposeAhead(self.composer)

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
            if status == CampaignStatus.CANCELLED
        }
        db.session.commit()

    def check_group(self, rows: list[Outgoing]) -> None:
        """Read again, for the next CHECK_GROUP messages, whether each may still go:
        consent given (for a campaign: to one of its topics), the address not
        undeliverable. Three or four queries."""
        needing = [row for row in rows if row.requires_subscription and row.contact_id]
        given = consent_still_given(needing)
        blocked = undeliverable_among((row.contact_id, row.to_address, row.kind) for row in rows)
        self.refused = {}
        for row in rows:
            if row.requires_subscription and row.id not in given:
                self.refused[row.id] = "consent withdrawn before sending"
            elif row.contact_id is not None and (row.contact_id, row.to_address) in blocked:
                self.refused[row.id] = "address undeliverable"
        self.checked = {row.id for row in rows}
        db.session.commit()

    def deliver_one(self, connection: TimeoutConnection, row: Outgoing) -> bool:
        """Send one row (or cancel it); True when the connection is gone for the rest."""
        report = self.report
        reason = self.refused.get(row.id)
        if reason is not None:
            leases.mark_cancelled(row, reason)
            self.unsaved = True
            report.cancelled += 1
            return False
        try:
            raw = self.ahead.message_bytes(row)
            recipient = ascii_address(row.to_address)
        except MalformedHeader as exc:
            # Nothing a retry can mend: record it and go on with the others.
            leases.mark_failed(row, describe(exc), self.clock(), permanent=True)
            self.unsaved = True
            report.errors.append(describe(exc))
            report.failed += 1
            return False
        try:
            assert connection.host is not None
            connection.host.sendmail(self.composer.envelope_for(row), [recipient], raw)
        except TEMPORARY_ERRORS as exc:
            return self.failed(row, exc)
        self.outcomes.add(row, utcnow())
        if row.campaign_id in self.streaks:
            note_delivery(row.campaign_id, success=True)
            self.streaks.discard(row.campaign_id)
            self.unsaved = True
        report.sent += 1
        return False

    def failed(self, row: Outgoing, exc: Exception) -> bool:
        """Record a failed send; True when the connection is gone for the rest."""
        refused = refusal(exc)
        # A recipient refused for now (4xx) is tried MAIL_MAX_ATTEMPTS times in all.
        last_try = row.attempts + 1 >= current_app.config["MAIL_MAX_ATTEMPTS"]
        permanent = is_permanent(exc) or (refused is not None and last_try)
        leases.mark_failed(row, describe(exc), self.clock(), permanent=permanent)
        self.unsaved = True
        self.report.errors.append(describe(exc))
        if permanent and refused is not None:
            record_refusal(row, refused)
        if row.campaign_id is not None:
            self.streaks.add(row.campaign_id)
            if note_delivery(row.campaign_id, success=False):
                self.held.add(row.campaign_id)
        if permanent:
            self.report.failed += 1
            return False
        self.report.retrying += 1
        return connection_gone(exc)

    def next_to_send(self, index: int) -> Outgoing | None:
        """The row after `index`, when it is checked and may go (composed meanwhile)."""
        following = self.rows[index + 1] if index + 1 < len(self.rows) else None
        if following is None or following.id not in self.checked:
            return None
        return None if following.id in self.refused else following

    def run(self, connection: TimeoutConnection) -> None:
        pause = self.pause
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
                if row.id not in self.checked:
                    self.check_group(self.rows[index : index + CHECK_GROUP])
                self.ahead.prepare(self.next_to_send(index))
                connection_lost = self.deliver_one(connection, row)
                if connection_lost:
                    waiting.extend(self.rows[index + 1 :])
                if self.unsaved:
                    # Before the next message: the outcome writer must not wait
                    # on a write lock this session holds.
                    db.session.commit()
                    self.unsaved = False
                if connection_lost:
                    break
            self.outcomes.flush()
        except Exception:
            # Whatever went wrong, the rows not done are given back at once rather
            # than left claimed until the lease runs out; the accepted ones whose
            # record did not commit keep their claim until it runs out.
            db.session.rollback()
            self.ahead.close()
            self.outcomes.settle()
            self.put_back(waiting + self.rows[index:])
            raise
        finally:
            self.ahead.close()
        self.put_back(waiting)

    def put_back(self, rows: list[Outgoing]) -> None:
        """Rows not tried: those of a cancelled campaign are cancelled, the rest wait."""
        rows = list({row.id: row for row in rows}.values())
        if not rows:
            return
        self.check_holds(force=True)
        for row in rows:
            if row.campaign_id in self.cancelled:
                leases.mark_cancelled(row, "campaign cancelled")
                self.report.cancelled += 1
        leases.release([row for row in rows if row.campaign_id not in self.cancelled])
        db.session.commit()


def record_refusal(row: Outgoing, refused: Refusal) -> None:
    """A refusal that ends the mail is a bounce, classified as a report's would be:
    hard for a 5xx (a full mailbox, X.2.2, is soft), soft for a 4xx after the last try.
    No commit."""
    kind = classify(refused.status, refused.diagnostic)
    bounces.record_refusal(
        row.contact_id,
        row.to_address,
        row.id,
        row.campaign_id,
        BounceType.HARD if kind == BounceKind.HARD else BounceType.SOFT,
        refused.status,
        refused.diagnostic,
    )


def _hourly_allowance(now: datetime) -> int:
    """How many more mails MAIL_RATE_PER_HOUR allows in the hour up to `now`."""
    per_hour = int(current_app.config["MAIL_RATE_PER_HOUR"])
    if not per_hour:
        return 1 << 30
    sent = db.session.scalar(
        sa.select(sa.func.count(OutboundEmail.id)).where(
            OutboundEmail.status == OutboundStatus.SENT,
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
    lease = Lease(rows, now, leases.lease_length())
    lease.start()
    try:
        _deliver_claimed(rows, now, report, lease)
    finally:
        lease.stop()
    return report


def _deliver_claimed(
    rows: list[Outgoing], now: datetime, report: DeliveryReport, lease: Lease
) -> None:
    """Deliver the claimed rows over MAIL_CONNECTIONS SMTP connections, each on a thread
    of its own with every other row of the batch, one outcome writer for them all."""
    config = current_app.config
    try:
        connections = open_connections(min(max(config["MAIL_CONNECTIONS"], 1), len(rows)))
    except TEMPORARY_ERRORS as exc:
        lease.stop()
        for row in rows:
            leases.mark_failed(row, describe(exc), now, permanent=False)
        db.session.commit()
        report.retrying = len(rows)
        report.errors.append(describe(exc))
        log.warning("SMTP server unavailable, %d mails wait: %s", len(rows), exc)
        return
    count = len(connections)
    rate = config["MAIL_RATE_PER_SECOND"]
    pause = count / rate if rate else 0.0
    outcomes = OutcomeWriter(
        db.engine,
        config["MAIL_PIPELINE_DEPTH"],
        after_deletion=partial(scrub_storage, db.engine, [OUTBOX.name]),
    )
    shares = [
        (connection, rows[n::count], DeliveryReport()) for n, connection in enumerate(connections)
    ]
    passes = [
        partial(Pass(share, now, part, lease, outcomes, pause).run, connection)
        for connection, share, part in shares
    ]
    try:
        if count == 1:
            passes[0]()
        else:
            run_in_threads(passes)
    finally:
        try:
            outcomes.close()
        finally:
            for connection, _, part in shares:
                connection.close()
                report.add(part)
