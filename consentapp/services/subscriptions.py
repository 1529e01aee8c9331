"""The subscription lifecycle: request, confirmation, withdrawal, unsubscribe (P7).

Every change to a subscription writes its ledger row in the same transaction, with
the privacy-notice version in force.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentPurpose,
    Contact,
    PrivacyNotice,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.services import notices, statistics_consent
from consentapp.services.consent import ConsentSource, Origin, record_consent
from consentapp.services.contacts import find_contact_by_public_id, find_or_create_contact
from consentapp.services.dialects import dialect_insert
from consentapp.services.subscription_mails import (
    CONFIRMATION_KINDS,
    queue_already_subscribed,
    queue_confirmation,
)
from consentapp.services.throttle import may_mail
from consentapp.services.topics import subscriptions_of, topics_by_slug
from consentapp.services.withdrawal import ACTIVE, stop_subscriptions
from consentapp.tokens import Purpose, Token, read_token, token_contact


def subscription_for(
    contact: Contact, topic: Topic, existing: dict[str, Subscription]
) -> Subscription:
    """The contact's subscription to `topic`, stored first (as pending) if it is new.

    The row is inserted unless one already exists, so two requests adding the same
    topic at once end with one row and no error; the status change that follows is
    guarded like any other (see `change_subscription`).
    """
    sub = existing.get(topic.slug)
    if sub is None:
        db.session.flush()
        now = utcnow()
        db.session.execute(
            _insert_if_absent(
                contact_id=contact.id,
                topic_id=topic.id,
                status=SubscriptionStatus.PENDING,
                requested_at=now,
                updated_at=now,
            )
        )
        sub = db.session.scalars(
            sa.select(Subscription).where(
                Subscription.contact_id == contact.id, Subscription.topic_id == topic.id
            )
        ).one()
        existing[topic.slug] = sub
    return sub


def _insert_if_absent(**values: object) -> sa.Executable:
    """INSERT ... ON CONFLICT DO NOTHING on the (contact, topic) pair."""
    return dialect_insert(Subscription).values(**values).on_conflict_do_nothing()


def change_subscription(
    sub: Subscription,
    status: SubscriptionStatus,
    *,
    action: ConsentAction,
    source: ConsentSource,
) -> bool:
    """Move a subscription to `status` and write its ledger row, in one transaction.

    A stored subscription moves only if it still has the status it was read with
    (a conditional UPDATE): of two requests racing for the same change, one wins
    and the other writes nothing, on SQLite and PostgreSQL alike. Returns whether
    this call made the change.
    """
    now = utcnow()
    values: dict[str, object] = {"status": status, "updated_at": now}
    if status is SubscriptionStatus.PENDING:
        values["requested_at"] = now
    elif status is SubscriptionStatus.CONFIRMED:
        values["confirmed_at"] = now
        values["unsubscribed_at"] = None
    else:
        values["unsubscribed_at"] = now
    if sa.inspect(sub).persistent:
        moved = db.session.execute(
            sa.update(Subscription)
            .where(Subscription.id == sub.id, Subscription.status == sub.status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            # Someone else changed it first: show their outcome, record nothing.
            db.session.refresh(sub)
            return False
        for key, value in values.items():
            set_committed_value(sub, key, value)
    else:
        for key, value in values.items():
            setattr(sub, key, value)
    record_consent(
        contact=sub.contact,
        purpose=ConsentPurpose.NEWSLETTER,
        action=action,
        channel=source.channel,
        notice=source.notice,
        origin=source.origin,
        topic_id=sub.topic.id,
        evidence=source.evidence,
        details=dict(source.details) if source.details else None,
    )
    return True


def confirm_topics(contact: Contact, topics: Sequence[Topic], source: ConsentSource) -> list[str]:
    """Confirm topics at once, without the double opt-in mail: for consent proven
    otherwise (a signed agreement that contains it, or the person's own mailed link).
    Returns the topics newly confirmed. No commit."""
    moved = _move_unconfirmed(
        contact,
        topics,
        SubscriptionStatus.CONFIRMED,
        action=ConsentAction.CONFIRMED,
        source=source,
    )
    return [topic.slug for topic in moved]


def _move_unconfirmed(
    contact: Contact,
    topics: Sequence[Topic],
    status: SubscriptionStatus,
    *,
    action: ConsentAction,
    source: ConsentSource,
) -> list[Topic]:
    """Move each of `topics` not confirmed yet to `status`, with its ledger row; the
    confirmed ones stay as they are. Returns the topics moved."""
    current = subscriptions_of(contact)
    moved: list[Topic] = []
    for topic in topics:
        sub = subscription_for(contact, topic, current)
        if sub.status == SubscriptionStatus.CONFIRMED:
            continue
        if change_subscription(sub, status, action=action, source=source):
            moved.append(topic)
    return moved


def request_in_transaction(
    *,
    email: str,
    name: str,
    topic_slugs: Sequence[str],
    language: str,
    source: ConsentSource,
    send_mail: bool = True,
    contact: Contact | None = None,
    statistics: bool = False,
) -> None:
    """Record a subscription request and queue its confirmation mail, without committing.
    With `statistics`, personal statistics are asked for too (confirmed by the same link).

    Topics already confirmed stay as they are. The answer to the person is the same
    whatever happens here, so nothing tells whether the address was known. The
    source's `details` add to what the ledger rows say (where the request came from).
    """
    topics = topics_by_slug(topic_slugs)
    if contact is None:
        contact = find_or_create_contact(email, language, source.channel, name=name)
    db.session.flush()
    to_confirm = _move_unconfirmed(
        contact,
        topics,
        SubscriptionStatus.PENDING,
        action=ConsentAction.REQUESTED,
        source=replace(
            source,
            details={
                "topics": [t.slug for t in topics],
                "language": language,
                **(source.details or {}),
            },
        ),
    )
    asked = statistics and statistics_consent.request(contact, source)
    if not send_mail or not may_mail(contact.mail_address, CONFIRMATION_KINDS):
        return
    if to_confirm or asked:
        queue_confirmation(contact, to_confirm, language, statistics=asked)
    else:
        queue_already_subscribed(contact, language)


@dataclass(frozen=True)
class EvidencedTopics:
    """What consent recorded with evidence (offline, or in an import) did to the topics."""

    confirmed_at_once: bool
    confirmed: list[str]
    pending: list[str]


def subscribe_with_evidence(
    contact: Contact,
    topics: Sequence[Topic],
    source: ConsentSource,
    *,
    agreement_covers_newsletters: bool,
    send_mail: bool,
) -> EvidencedTopics:
    """The one rule for newsletter consent that did not come through our forms (P1).

    Only a signed agreement that itself contains the newsletter consent (and staff
    say so) confirms at once; any other evidence starts the double opt-in, its mail
    sent unless told not to. The source's details go on the confirmed rows; the
    requested rows say what was asked, as every request's do. No commit.
    """
    if not topics:
        return EvidencedTopics(confirmed_at_once=False, confirmed=[], pending=[])
    if source.channel == ConsentChannel.AGREEMENT and agreement_covers_newsletters:
        confirmed = confirm_topics(contact, topics, source)
        return EvidencedTopics(confirmed_at_once=True, confirmed=confirmed, pending=[])
    slugs = [topic.slug for topic in topics]
    request_in_transaction(
        email=contact.mail_address,
        name=contact.name,
        topic_slugs=slugs,
        language=contact.language,
        source=replace(source, details=None),
        send_mail=send_mail,
        contact=contact,
    )
    return EvidencedTopics(confirmed_at_once=False, confirmed=[], pending=slugs)


def request_subscription(
    *,
    email: str,
    name: str,
    topic_slugs: Sequence[str],
    language: str,
    origin: Origin | None,
    notice: PrivacyNotice,
    statistics: bool = False,
) -> None:
    """Step 1 of the double opt-in, from the subscribe form."""
    request_in_transaction(
        email=email,
        name=name,
        topic_slugs=topic_slugs,
        language=language,
        source=ConsentSource(ConsentChannel.WEB_FORM, notice, origin),
        statistics=statistics,
    )
    db.session.commit()


def withdraw(
    contact: Contact,
    topic_slugs: Sequence[str] | None,
    channel: str,
    origin: Origin | None,
    language: str,
    details: Mapping[str, object] | None = None,
) -> list[Topic]:
    """Stop `topic_slugs` (all topics when None) at once; returns what was stopped.

    Idempotent: topics already stopped write nothing. The statements are those of the
    one-click link (`withdrawal.stop_subscriptions`); the subscriptions loaded here are
    brought up to date, a topic another request stopped first shows its outcome. The
    caller commits.
    """
    notice = notices.current_notice(language)
    chosen = [
        sub
        for slug, sub in sorted(subscriptions_of(contact).items())
        if (topic_slugs is None or slug in topic_slugs) and sub.status in ACTIVE
    ]
    now = utcnow()
    stopped = set(
        stop_subscriptions(
            subject_id=contact.public_id,
            wanted=[(sub.id, sub.topic_id) for sub in chosen],
            channel=channel,
            notice=notice,
            origin=origin,
            details=details,
            now=now,
        )
    )
    values = {"status": SubscriptionStatus.UNSUBSCRIBED, "unsubscribed_at": now, "updated_at": now}
    for sub in chosen:
        if sub.topic_id not in stopped:
            db.session.refresh(sub)
            continue
        for key, value in values.items():
            set_committed_value(sub, key, value)
    left = [sub for sub in subscriptions_of(contact).values() if sub.status in ACTIVE]
    if stopped and not left and contact.statistics_since is not None:
        # Personal statistics end with the last newsletter (the record of processing).
        source = ConsentSource(channel, notice, origin, details={"reason": "no newsletter left"})
        statistics_consent.withdraw(contact, source)
    return [sub.topic for sub in chosen if sub.topic_id in stopped]


def read_unsubscribe(raw: str) -> tuple[Token, Contact]:
    """Verify an unsubscribe link (raises TokenInvalid; these links do not expire)."""
    token = read_token(Purpose.UNSUBSCRIBE, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    return token, contact


_SUBSCRIPTIONS = Subscription.__table__


def consent_given_among(
    wanted: Iterable[tuple[int, int | None]],
) -> set[tuple[int, int | None]]:
    """Checked by the worker just before sending mails that need consent: of these
    (contact, topic) pairs, those with a confirmed subscription to the topic, or to any
    topic when it is empty. Two queries at most, however many pairs."""
    pairs = set(wanted)
    contacts = {contact for contact, _ in pairs}
    topics = {topic for _, topic in pairs if topic is not None}
    confirmed = _SUBSCRIPTIONS.c.status == SubscriptionStatus.CONFIRMED
    given: set[tuple[int, int | None]] = set()
    if topics:
        rows = db.session.execute(
            sa.select(_SUBSCRIPTIONS.c.contact_id, _SUBSCRIPTIONS.c.topic_id).where(
                confirmed,
                _SUBSCRIPTIONS.c.contact_id.in_(contacts),
                _SUBSCRIPTIONS.c.topic_id.in_(topics),
            )
        )
        given |= {(contact, topic) for contact, topic in rows} & pairs
    if any(topic is None for _, topic in pairs):
        rows = db.session.execute(
            sa.select(_SUBSCRIPTIONS.c.contact_id)
            .where(confirmed, _SUBSCRIPTIONS.c.contact_id.in_(contacts))
            .distinct()
        )
        given |= {(contact, None) for contact in rows.scalars()} & pairs
    return given
