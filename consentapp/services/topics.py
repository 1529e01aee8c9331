"""Topics people can choose, and which of them a contact has (reads only)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from babel.lists import format_list

from consentapp.extensions import db
from consentapp.models import Contact, Subscription, SubscriptionStatus, Topic


class UnknownTopic(ValueError):
    """A topic slug that does not exist or is not offered."""


def active_topics() -> list[Topic]:
    """Topics people can choose, in display order."""
    return list(
        db.session.scalars(
            sa.select(Topic).where(Topic.active.is_(True)).order_by(Topic.position, Topic.id)
        )
    )


def topic_labels(language: str) -> dict[str, str]:
    """Every topic's name in `language` by slug, retired topics included."""
    return {topic.slug: topic.label(language) for topic in db.session.scalars(sa.select(Topic))}


def topic_names(topics: Iterable[Topic], language: str) -> str:
    """The topics' names as one phrase in `language` ("A, B and C")."""
    return format_list([topic.label(language) for topic in topics], locale=language)


def topics_by_slug(slugs: Iterable[str]) -> list[Topic]:
    """The active topics named by `slugs`, in display order; unknown slugs raise."""
    wanted = set(slugs)
    topics = [topic for topic in active_topics() if topic.slug in wanted]
    if len(topics) != len(wanted):
        known = {topic.slug for topic in topics}
        raise UnknownTopic(", ".join(sorted(wanted - known)))
    return topics


def subscriptions_of(contact: Contact) -> dict[str, Subscription]:
    """The contact's subscriptions by topic slug."""
    rows = db.session.scalars(
        sa.select(Subscription).join(Topic).where(Subscription.contact_id == contact.id)
    )
    return {row.topic.slug: row for row in rows}


def confirmed_slugs(contact: Contact) -> list[str]:
    """Slugs of the topics the contact currently receives."""
    return [
        slug
        for slug, sub in subscriptions_of(contact).items()
        if sub.status == SubscriptionStatus.CONFIRMED
    ]
