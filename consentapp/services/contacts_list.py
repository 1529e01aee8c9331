"""The staff contact list: search, filters, a sortable column, numbered pages (P3).

Every sort follows an index (`ix_contacts_name`, `ix_contacts_company`,
`ix_contacts_created_at`, the unique address), read forwards or backwards, so a page
stays quick with a hundred thousand contacts and more on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import Contact, Subscription, SubscriptionStatus, Topic, utcnow
from consentapp.services.contact_search import text_filter

# The columns a list may be sorted by (anything else falls back to the name).
SORT_COLUMNS: dict[str, sa.orm.InstrumentedAttribute[Any]] = {
    "name": Contact.name,
    "email": Contact.email,
    "company": Contact.company,
    "created": Contact.created_at,
}
# The direction a column sorts in when first chosen: names A to Z, the newest first.
FIRST_DIRECTION = {"name": "asc", "email": "asc", "company": "asc", "created": "desc"}
DIRECTIONS = ("asc", "desc")
PAGE_WINDOW = 2  # page numbers shown either side of the current one


def checked_sort(sort: str, direction: str) -> tuple[str, str]:
    """A known sort key and direction: unknown ones become the defaults."""
    if sort not in SORT_COLUMNS:
        sort = "name"
    if direction not in DIRECTIONS:
        direction = FIRST_DIRECTION[sort]
    return sort, direction


@dataclass(frozen=True)
class ContactPage:
    """One page of a contact search, with the number of contacts that match."""

    contacts: list[Contact]
    page: int
    total: int
    per_page: int = 50
    # Per contact id: the topics it is confirmed for or waiting on, in topic order.
    subscriptions: dict[int, list[Subscription]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def window(self) -> list[int]:
        """The page numbers shown around the current one."""
        first = max(1, self.page - PAGE_WINDOW)
        return list(range(first, min(self.pages, self.page + PAGE_WINDOW) + 1))


# "Status changed in the last N days": the moment each status was reached.
DAYS_CHOICES = (7, 30, 90, 365)
REACHED_AT: dict[str, sa.orm.InstrumentedAttribute[Any]] = {
    SubscriptionStatus.PENDING: Subscription.requested_at,
    SubscriptionStatus.CONFIRMED: Subscription.confirmed_at,
    SubscriptionStatus.UNSUBSCRIBED: Subscription.unsubscribed_at,
}


def _matching(
    query: str, topic: str, status: str, days: int | None = None, now: datetime | None = None
) -> sa.Select[Contact]:
    statement = sa.select(Contact)
    matching = text_filter(query)
    if matching is not None:
        statement = statement.where(matching)
    if topic or status or days:
        subscription = sa.select(Subscription.contact_id).join(Topic)
        if topic:
            subscription = subscription.where(Topic.slug == topic)
        if status:
            subscription = subscription.where(Subscription.status == status)
        if days:
            since = (now or utcnow()) - timedelta(days=days)
            subscription = subscription.where(
                REACHED_AT.get(status, Subscription.updated_at) >= since
            )
        statement = statement.where(Contact.id.in_(subscription))
    return statement


def search_contacts(
    query: str = "",
    topic: str = "",
    status: str = "",
    sort: str = "name",
    page: int = 1,
    per_page: int = 50,
    direction: str = "",
    days: int | None = None,
) -> ContactPage:
    """Search by name, e-mail or company; filter by topic, status and how recently the
    status was reached (`days`); one sorted page."""
    sort, direction = checked_sort(sort, direction)
    statement = _matching(query, topic, status, days)
    total = int(
        db.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0
    )
    page = min(max(page, 1), max(1, -(-total // per_page)))
    column, tiebreak = SORT_COLUMNS[sort], Contact.id
    order = (
        (column.asc(), tiebreak.asc()) if direction == "asc" else (column.desc(), tiebreak.desc())
    )
    rows = list(
        db.session.scalars(statement.order_by(*order).offset((page - 1) * per_page).limit(per_page))
    )
    return ContactPage(rows, page, total, per_page, _subscriptions_of(rows))


def _subscriptions_of(contacts: list[Contact]) -> dict[int, list[Subscription]]:
    """The confirmed and pending subscriptions of the contacts shown, in one query."""
    if not contacts:
        return {}
    found: dict[int, list[Subscription]] = defaultdict(list)
    rows = db.session.scalars(
        sa.select(Subscription)
        .join(Topic)
        .where(
            Subscription.contact_id.in_([c.id for c in contacts]),
            Subscription.status.in_([SubscriptionStatus.CONFIRMED, SubscriptionStatus.PENDING]),
        )
        .options(sa.orm.contains_eager(Subscription.topic))
        .order_by(Topic.position)
    )
    for subscription in rows:
        found[subscription.contact_id].append(subscription)
    return dict(found)
