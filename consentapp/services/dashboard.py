"""The numbers on the staff home page. Every query is answered from an index, so the
page stays fast with a million contacts (see bench/dashboard.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    OPEN_REQUEST_STATUSES,
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    DashboardSnapshot,
    DataRequest,
    Inquiry,
    InquiryStatus,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.services.bounces_admin import BounceFigures, recent_figures
from consentapp.services.dialects import dialect_insert

CHART_WEEKS = 12


@dataclass(frozen=True)
class TopicCount:
    """Confirmed subscribers of one topic."""

    topic: Topic
    confirmed: int


@dataclass(frozen=True)
class WeekPoint:
    """Newsletter consents confirmed and withdrawn in one week."""

    start: datetime
    confirmed: int
    withdrawn: int


@dataclass(frozen=True)
class DashboardNumbers:
    """Everything the home page shows."""

    contacts: int
    per_topic: list[TopicCount]
    pending: int
    unsubscribed_30_days: int
    open_inquiries: int
    weeks: list[WeekPoint]
    # Bounces and complaints of the last 30 days, and the mails they are measured against.
    bounces: BounceFigures = field(default_factory=BounceFigures)


def _count(statement: sa.Select[Any]) -> int:
    return int(db.session.scalar(statement) or 0)


def dashboard_numbers(now: datetime | None = None) -> DashboardNumbers:
    """Compute the home page's numbers."""
    now = now or utcnow()
    topics = list(db.session.scalars(sa.select(Topic).order_by(Topic.position)))
    confirmed = dict(
        db.session.execute(
            sa.select(Subscription.topic_id, sa.func.count())
            .where(Subscription.status == SubscriptionStatus.CONFIRMED)
            .group_by(Subscription.topic_id)
        ).all()
    )
    return DashboardNumbers(
        contacts=_count(sa.select(sa.func.count(Contact.id))),
        per_topic=[TopicCount(topic, int(confirmed.get(topic.id, 0))) for topic in topics],
        pending=_count(
            sa.select(sa.func.count(sa.distinct(Subscription.contact_id))).where(
                Subscription.status == SubscriptionStatus.PENDING
            )
        ),
        unsubscribed_30_days=_count(
            sa.select(sa.func.count(ConsentEvent.id)).where(
                ConsentEvent.purpose == ConsentPurpose.NEWSLETTER,
                ConsentEvent.action == ConsentAction.WITHDRAWN,
                ConsentEvent.occurred_at >= now - timedelta(days=30),
            )
        ),
        open_inquiries=_count(
            sa.select(sa.func.count(Inquiry.id)).where(Inquiry.status != InquiryStatus.DONE)
        ),
        weeks=weekly_changes(now),
        bounces=recent_figures(now),
    )


def weekly_changes(now: datetime, weeks: int = CHART_WEEKS) -> list[WeekPoint]:
    """Confirmations and withdrawals per week, oldest first, from the ledger's index."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    points = []
    for week in range(weeks):
        begin = start + timedelta(weeks=week)
        end = begin + timedelta(weeks=1)
        counts = dict(
            db.session.execute(
                sa.select(ConsentEvent.action, sa.func.count())
                .where(
                    ConsentEvent.purpose == ConsentPurpose.NEWSLETTER,
                    ConsentEvent.action.in_([ConsentAction.CONFIRMED, ConsentAction.WITHDRAWN]),
                    ConsentEvent.occurred_at >= begin,
                    ConsentEvent.occurred_at < end,
                )
                .group_by(ConsentEvent.action)
            ).all()
        )
        points.append(
            WeekPoint(
                begin,
                int(counts.get(ConsentAction.CONFIRMED, 0)),
                int(counts.get(ConsentAction.WITHDRAWN, 0)),
            )
        )
    return points


SNAPSHOT_ID = 1


def _to_json(numbers: DashboardNumbers) -> dict[str, Any]:
    return {
        "contacts": numbers.contacts,
        "per_topic": [[item.topic.id, item.confirmed] for item in numbers.per_topic],
        "pending": numbers.pending,
        "unsubscribed_30_days": numbers.unsubscribed_30_days,
        "open_inquiries": numbers.open_inquiries,
        "weeks": [[w.start.isoformat(), w.confirmed, w.withdrawn] for w in numbers.weeks],
        "bounces": asdict(numbers.bounces),
    }


def _from_json(data: dict[str, Any]) -> DashboardNumbers:
    topics = {topic.id: topic for topic in db.session.scalars(sa.select(Topic))}
    return DashboardNumbers(
        contacts=int(data["contacts"]),
        per_topic=[
            TopicCount(topics[topic_id], int(count))
            for topic_id, count in data["per_topic"]
            if topic_id in topics
        ],
        pending=int(data["pending"]),
        unsubscribed_30_days=int(data["unsubscribed_30_days"]),
        open_inquiries=int(data["open_inquiries"]),
        weeks=[
            WeekPoint(datetime.fromisoformat(start), int(confirmed), int(withdrawn))
            for start, confirmed, withdrawn in data["weeks"]
        ],
        # A snapshot kept before bounces were counted has none until the next refresh.
        bounces=_bounce_figures(data.get("bounces") or {}),
    )


def _bounce_figures(data: dict[str, Any]) -> BounceFigures:
    names = ("sent", "hard", "soft", "complaint")
    return BounceFigures(*(int(data.get(name, 0)) for name in names))


def refresh_snapshot() -> DashboardNumbers:
    """Compute the numbers and keep them for the page (the worker calls this). Commits."""
    now = utcnow()
    numbers = dashboard_numbers(now)
    # One statement, so two workers (or a worker and a page) refreshing at once for the
    # first time cannot both insert the row.
    upsert = dialect_insert(DashboardSnapshot).values(
        id=SNAPSHOT_ID, computed_at=now, data=_to_json(numbers)
    )
    db.session.execute(
        upsert.on_conflict_do_update(
            index_elements=[DashboardSnapshot.id],
            set_={"computed_at": upsert.excluded.computed_at, "data": upsert.excluded.data},
        )
    )
    db.session.commit()
    return numbers


def snapshot_numbers(max_age: timedelta) -> tuple[DashboardNumbers, datetime]:
    """The kept numbers and when they were computed; recomputed here when too old."""
    row = db.session.get(DashboardSnapshot, SNAPSHOT_ID)
    if row is None or utcnow() - row.computed_at > max_age:
        numbers = refresh_snapshot()
        return numbers, utcnow()
    return _from_json(row.data), row.computed_at


@dataclass(frozen=True)
class RequestsSummary:
    """Open data-subject requests: how many, how many late, the nearest deadline."""

    open: int
    overdue: int
    due_soon: int
    nearest_due: datetime | None


def open_requests_summary(now: datetime | None = None) -> RequestsSummary:
    """Counted live: requests are few, and a deadline must never look better than it is."""
    now = now or utcnow()
    rows = db.session.execute(
        sa.select(DataRequest.due_at).where(DataRequest.status.in_(OPEN_REQUEST_STATUSES))
    ).scalars()
    due = sorted(rows)
    return RequestsSummary(
        open=len(due),
        overdue=sum(1 for d in due if d < now),
        due_soon=sum(1 for d in due if now <= d < now + timedelta(days=7)),
        nearest_due=due[0] if due else None,
    )
