"""Who a campaign goes to: the confirmed subscribers of any of its topics, each person
once, optionally only those who read one language or only customers.

The same rule picks the recipients the queue walks through, the count staff see
before sending, and, for each recipient, the topics they are reached through (their
unsubscribe link leaves exactly those). Just before a mail goes out the delivery pass
asks `consent_still_given` whether at least one of them still holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.mail.leases import Outgoing
from consentapp.mail.render import edition_language
from consentapp.models import (
    Campaign,
    ConsentChannel,
    ConsentEvent,
    Contact,
    OutboundEmail,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from consentapp.models.campaign import campaign_topics
from consentapp.services.subscriptions import consent_given_among


@dataclass(frozen=True)
class AudienceChoice:
    """The audience staff chose: topics (the first is the main one), and optionally a
    language and customers only."""

    topics: tuple[Topic, ...]
    language: str | None = None
    customers_only: bool = False

    @classmethod
    def of(cls, campaign: Campaign) -> AudienceChoice:
        return cls(tuple(campaign.all_topics), campaign.audience_language, campaign.customers_only)

    @property
    def topic_ids(self) -> list[int]:
        return [topic.id for topic in self.topics]


def is_customer() -> sa.ColumnElement[bool]:
    """A customer: invoiced at least once, or linked to a signed agreement (came to us
    through one, or one was recorded for them later, in the ledger)."""
    agreement = (
        sa.select(ConsentEvent.id)
        .where(
            ConsentEvent.subject_id == Contact.public_id,
            ConsentEvent.channel == ConsentChannel.AGREEMENT,
        )
        .exists()
    )
    return sa.or_(
        Contact.last_invoice_on.is_not(None),
        Contact.source_channel == ConsentChannel.AGREEMENT.value,
        agreement,
    )


def _in_language(language: str) -> sa.ColumnElement[bool]:
    """Who gets the edition in `language`: those who read it, and for the default
    language also those whose language has no edition."""
    if language != current_app.config["BABEL_DEFAULT_LOCALE"]:
        return Contact.language == language
    others = [other for other in current_app.config["LANGUAGES"] if other != language]
    return Contact.language.not_in(others)


def audience_rule(choice: AudienceChoice) -> tuple[sa.ColumnElement[bool], ...]:
    """Which contacts a campaign goes to, as conditions on `Contact`."""
    subscribed = (
        sa.select(Subscription.id)
        .where(
            Subscription.contact_id == Contact.id,
            Subscription.topic_id.in_(choice.topic_ids),
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
        .exists()
    )
    rule = [
        subscribed,
        Contact.email.is_not(None),
        # Bounces or a complaint showed the address takes no mail: skipped.
        Contact.undeliverable_at.is_(None),
    ]
    if choice.language:
        rule.append(_in_language(choice.language))
    if choice.customers_only:
        rule.append(is_customer())
    return tuple(rule)


def still_to_queue(campaign: Campaign) -> tuple[sa.ColumnElement[bool], ...]:
    """The audience past the queue's cursor, without whoever has the mail already."""
    queued = (
        sa.select(OutboundEmail.id)
        .where(OutboundEmail.campaign_id == campaign.id, OutboundEmail.contact_id == Contact.id)
        .exists()
    )
    return (
        *audience_rule(AudienceChoice.of(campaign)),
        Contact.id > campaign.queue_cursor,
        ~queued,
    )


@dataclass(frozen=True)
class Audience:
    """How many people a campaign would go to now, by the language they get it in."""

    by_language: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_language.values())


def audience(choice: AudienceChoice | Campaign) -> Audience:
    """Count the recipients as the queue would pick them, each under the language of
    the edition they get (an unknown language gets the default one)."""
    if isinstance(choice, Campaign):
        choice = AudienceChoice.of(choice)
    counts = dict.fromkeys(current_app.config["LANGUAGES"], 0)
    rows = db.session.execute(
        sa.select(Contact.language, sa.func.count())
        .where(*audience_rule(choice))
        .group_by(Contact.language)
    )
    for language, count in rows:
        counts[edition_language(language)] += int(count)
    return Audience(counts)


def topics_reached(campaign: Campaign, contact_ids: Sequence[int]) -> dict[int, list[Topic]]:
    """For each of these recipients, the campaign's topics they follow (confirmed), in
    the campaign's order: what their unsubscribe link leaves."""
    topics = {topic.id: topic for topic in campaign.all_topics}
    order = list(topics)
    reached: dict[int, list[Topic]] = {contact_id: [] for contact_id in contact_ids}
    rows = db.session.execute(
        sa.select(Subscription.contact_id, Subscription.topic_id).where(
            Subscription.contact_id.in_(contact_ids),
            Subscription.topic_id.in_(order),
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
    )
    for contact_id, topic_id in sorted(rows, key=lambda row: order.index(row[1])):
        reached[contact_id].append(topics[topic_id])
    return reached


def campaign_topic_ids(campaign_ids: Iterable[int]) -> dict[int, list[int]]:
    """Every topic of these campaigns, by campaign id. One query."""
    ids = set(campaign_ids)
    found: dict[int, list[int]] = {campaign_id: [] for campaign_id in ids}
    if ids:
        rows = db.session.execute(
            sa.select(campaign_topics.c.campaign_id, campaign_topics.c.topic_id).where(
                campaign_topics.c.campaign_id.in_(ids)
            )
        )
        for campaign_id, topic_id in rows:
            found[campaign_id].append(topic_id)
    return found


def consent_still_given(rows: Sequence[Outgoing]) -> set[int]:
    """Of these mails, those whose recipient still follows a topic they may have: for a
    campaign mail one of the topics that reached them (its footer and one-click link
    name those; the campaign's topics for a mail queued before they were kept), else
    the mail's own topic (or any topic without one). Two or three queries however many
    rows."""
    by_campaign = campaign_topic_ids(
        row.campaign_id for row in rows if row.campaign_id and not row.reached_topics
    )

    def topics(row: Outgoing) -> list[int | None]:
        if row.reached_topics:
            return [*row.reached_topics]
        own: list[int | None] = [row.topic_id]
        return [*by_campaign.get(row.campaign_id or 0, [])] or own

    given = consent_given_among(
        (row.contact_id or 0, topic) for row in rows for topic in topics(row)
    )
    return {
        row.id
        for row in rows
        if any((row.contact_id or 0, topic) in given for topic in topics(row))
    }
