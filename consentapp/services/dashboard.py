"""The numbers on the staff home page. Every query is answered from an index, so the
page stays fast with a million contacts (see bench/dashboard.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    Inquiry,
    InquiryStatus,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)

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


def _count(statement: sa.Select[Any]) -> int:
    return int(db.session.scalar(statement) or 0)


def dashboard_numbers(now: datetime | None = None) -> DashboardNumbers:
    """Compute the home page's numbers."""
    now = now or utcnow()
    topics = list(db.session.scalars(sa.select(Topic).order_by(Topic.position)))
    confirmed = dict(
        db.session.execute(
            sa.select(Subscription.topic_id, sa.func.count())
            .where(Subscription.status == SubscriptionStatus.CONFIRMED.value)
            .group_by(Subscription.topic_id)
        ).all()
    )
    return DashboardNumbers(
        contacts=_count(sa.select(sa.func.count(Contact.id))),
        per_topic=[TopicCount(topic, int(confirmed.get(topic.id, 0))) for topic in topics],
        pending=_count(
            sa.select(sa.func.count(sa.distinct(Subscription.contact_id))).where(
                Subscription.status == SubscriptionStatus.PENDING.value
            )
        ),
        unsubscribed_30_days=_count(
            sa.select(sa.func.count(ConsentEvent.id)).where(
                ConsentEvent.purpose == ConsentPurpose.NEWSLETTER.value,
                ConsentEvent.action == ConsentAction.WITHDRAWN.value,
                ConsentEvent.occurred_at >= now - timedelta(days=30),
            )
        ),
        open_inquiries=_count(
            sa.select(sa.func.count(Inquiry.id)).where(Inquiry.status != InquiryStatus.DONE.value)
        ),
        weeks=weekly_changes(now),
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
                    ConsentEvent.purpose == ConsentPurpose.NEWSLETTER.value,
                    ConsentEvent.action.in_(
                        [ConsentAction.CONFIRMED.value, ConsentAction.WITHDRAWN.value]
                    ),
                    ConsentEvent.occurred_at >= begin,
                    ConsentEvent.occurred_at < end,
                )
                .group_by(ConsentEvent.action)
            ).all()
        )
        points.append(
            WeekPoint(
                begin,
                int(counts.get(ConsentAction.CONFIRMED.value, 0)),
                int(counts.get(ConsentAction.WITHDRAWN.value, 0)),
            )
        )
    return points
