"""The outbox's state machine: claim due rows with a lease, keep it alive, give rows
back, and record each outcome (sent, retrying, failed, cancelled).

Only the outbox table: which rows may be claimed besides the due ones (a campaign on
hold, say) is the caller's condition, passed in. Every outcome is a single UPDATE on
a row this pass still holds (its claim token), so a row taken over by another worker
after the lease ran out is never overwritten.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.models import OutboundEmail, OutboundStatus

log = logging.getLogger(__name__)

OUTBOX = cast(sa.Table, OutboundEmail.__table__)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, never more than an hour."""
    doublings = min(max(attempts - 1, 0), 16)
    return min(FIRST_RETRY * (1 << doublings), LONGEST_RETRY)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A claimed outbox row, read once; the worker sends from this."""

    id: int
    kind: str
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
    reached_topics: list[int] | None
    delete_after_send: bool
    claim_token: str


OUTGOING_COLUMNS = [OUTBOX.c[name] for name in Outgoing.__dataclass_fields__]


def pending(now: datetime) -> sa.ColumnElement[bool]:
    """Waiting, and due by `now`."""
    return sa.and_(OUTBOX.c.status == OutboundStatus.PENDING, OUTBOX.c.next_attempt_at <= now)


def abandoned(now: datetime) -> sa.ColumnElement[bool]:
    """Claimed by a worker that did not finish before its lease ran out."""
    return sa.and_(OUTBOX.c.status == OutboundStatus.SENDING, OUTBOX.c.lease_until < now)


def _due_ids(now: datetime, limit: int, eligible: sa.ColumnElement[bool]) -> list[int]:
    """Abandoned rows first, then pending ones in due order. Two queries, each walking
    an index in order, so a claim costs the same with 100 or 1,000,000 rows queued."""
    picked: list[int] = []
    for condition, order in (
        (abandoned(now), (OUTBOX.c.id,)),
        (pending(now), (OUTBOX.c.next_attempt_at, OUTBOX.c.id)),
    ):
        query = (
            sa.select(OUTBOX.c.id)
            .where(condition, eligible)
            .order_by(*order)
            .limit(limit - len(picked))
        )
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        picked += db.session.scalars(query)
        if len(picked) >= limit:
            break
    return picked


def cancel_unclaimed(which: sa.ColumnElement[bool], now: datetime, reason: str) -> None:
    """Cancel the rows matching `which` that no worker holds (waiting, or left by a
    worker that died). No commit."""
    db.session.execute(
        sa.update(OUTBOX)
        .where(which, sa.or_(OUTBOX.c.status == OutboundStatus.PENDING, abandoned(now)))
        .values(
            status=OutboundStatus.CANCELLED,
            last_error=reason,
            lease_until=None,
            claim_token=None,
        )
    )


def lease_length() -> timedelta:
    """MAIL_LEASE_SECONDS: how long a claim holds without being renewed."""
    return timedelta(seconds=float(current_app.config["MAIL_LEASE_SECONDS"]))


def claim(now: datetime, limit: int, eligible: sa.ColumnElement[bool]) -> list[Outgoing]:
    """Take up to `limit` due rows that match `eligible`; no other worker gets them
    while the lease holds (see `Lease` for how it is kept alive). Commits."""
    ids = _due_ids(now, limit, eligible)
    if not ids:
        db.session.commit()
        return []
    token = secrets.token_hex(8)
    db.session.execute(
        sa.update(OUTBOX)
        .where(
            OUTBOX.c.id.in_(ids),
            sa.or_(pending(now), abandoned(now)),
            eligible,
        )
        .values(
            status=OutboundStatus.SENDING,
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
        status=OutboundStatus.SENT,
        attempts=sa.bindparam("attempts"),
        sent_at=sa.bindparam("sent_at"),
        last_error=None,
        lease_until=None,
        claim_token=None,
    )
)
_DELETE_SENT = sa.delete(OUTBOX).where(
    OUTBOX.c.id == sa.bindparam("row"), OUTBOX.c.claim_token == sa.bindparam("token")
)


def record_sent(connection: sa.Connection, accepted: Sequence[tuple[Outgoing, datetime]]) -> bool:
    """The server accepted these messages (each with the time it did): one UPDATE for
    them all, and the last mails to erased people deleted (then True: the storage is
    to be scrubbed once this commits). On `connection`; no commit."""
    kept = [
        {"row": row.id, "token": row.claim_token, "attempts": row.attempts + 1, "sent_at": at}
        for row, at in accepted
        if not row.delete_after_send
    ]
    gone = [
        {"row": row.id, "token": row.claim_token} for row, _ in accepted if row.delete_after_send
    ]
    if kept:
        connection.execute(_MARK_SENT, kept)
    if gone:
        connection.execute(_DELETE_SENT, gone)
    return bool(gone)


def mark_failed(row: Outgoing, error: str, now: datetime, permanent: bool) -> None:
    """A permanent failure is final; a temporary one waits for `retry_delay`. No commit."""
    if permanent:
        _finish(
            row,
            status=OutboundStatus.FAILED,
            attempts=row.attempts + 1,
            last_error=error,
        )
        return
    db.session.execute(
        sa.update(OUTBOX)
        .where(_ours(row))
        .values(
            status=OutboundStatus.PENDING,
            attempts=row.attempts + 1,
            last_error=error,
            next_attempt_at=now + retry_delay(row.attempts + 1),
            lease_until=None,
            claim_token=None,
        )
    )


def mark_cancelled(row: Outgoing, reason: str) -> None:
    """The mail must not go out (consent withdrawn, campaign cancelled). No commit."""
    _finish(row, status=OutboundStatus.CANCELLED, last_error=reason)


def release(rows: Sequence[Outgoing]) -> None:
    """Give untried rows back without counting an attempt. No commit."""
    if rows:
        db.session.execute(
            sa.update(OUTBOX)
            .where(
                OUTBOX.c.id.in_([row.id for row in rows]),
                OUTBOX.c.claim_token == rows[0].claim_token,
            )
            .values(status=OutboundStatus.PENDING, lease_until=None, claim_token=None)
        )


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
    worker may already have taken; at most the messages in flight arrive twice
    (see `consentapp/mail/outcomes.py` for the bound).
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
