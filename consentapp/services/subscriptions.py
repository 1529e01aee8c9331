"""The subscription lifecycle: request, double opt-in, withdrawal, expiry (P7, P10).

Every change to a subscription writes its ledger row in the same transaction, with
the privacy-notice version in force.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value

from consentapp.extensions import db
from consentapp.keyring import address_matches
from consentapp.links import external_url, list_unsubscribe_headers, preferences_url
from consentapp.links import unsubscribe_url as make_unsubscribe_url
from consentapp.mail.outbox import queue_email
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    DataRequest,
    DisclosureSubject,
    Inquiry,
    OutboundEmail,
    PrivacyNotice,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.services import notices
from consentapp.services.consent import Origin, record_consent
from consentapp.services.contacts import find_contact_by_public_id, find_or_create_contact
from consentapp.services.suppression import lift as lift_suppression
from consentapp.services.throttle import may_mail
from consentapp.tokens import (
    Purpose,
    Token,
    lifetime_days,
    make_token,
    read_token,
    token_contact,
)

# Link mails one address may receive per hour, whoever asks: the forms cannot be
# used to flood someone's mailbox.
CONFIRMATION_KINDS = ("subscribe_confirm", "subscribe_already")

ACTIVE = (SubscriptionStatus.PENDING.value, SubscriptionStatus.CONFIRMED.value)


class UnknownTopic(ValueError):
    """A topic slug that does not exist or is not offered."""


class ConfirmOutcome(enum.Enum):
    """What a confirmation link did."""

    CONFIRMED = "confirmed"
    ALREADY_CONFIRMED = "already_confirmed"
    NOTHING_PENDING = "nothing_pending"


@dataclass(frozen=True)
class ConfirmResult:
    """The outcome and the topics it concerns."""

    outcome: ConfirmOutcome
    topics: list[Topic]
    contact: Contact


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
        if sub.status == SubscriptionStatus.CONFIRMED.value
    ]


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
                status=SubscriptionStatus.PENDING.value,
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
    if db.session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(Subscription).values(**values).on_conflict_do_nothing()
    return sqlite_insert(Subscription).values(**values).on_conflict_do_nothing()


def change_subscription(
    sub: Subscription,
    status: SubscriptionStatus,
    *,
    action: ConsentAction,
    channel: str,
    notice: PrivacyNotice | None,
    origin: Origin | None,
    details: Mapping[str, object] | None = None,
    evidence: str | None = None,
) -> bool:
    """Move a subscription to `status` and write its ledger row, in one transaction.

    A stored subscription moves only if it still has the status it was read with
    (a conditional UPDATE): of two requests racing for the same change, one wins
    and the other writes nothing, on SQLite and PostgreSQL alike. Returns whether
    this call made the change.
    """
    now = utcnow()
    values: dict[str, object] = {"status": status.value, "updated_at": now}
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
        purpose=ConsentPurpose.NEWSLETTER.value,
        action=action.value,
        channel=channel,
        notice=notice,
        origin=origin,
        topic_id=sub.topic.id,
        evidence=evidence,
        details=dict(details) if details else None,
    )
    return True


def confirm_topics(
    contact: Contact,
    topics: Sequence[Topic],
    *,
    channel: str,
    notice: PrivacyNotice | None,
    details: Mapping[str, object],
    origin: Origin | None = None,
    evidence: str | None = None,
) -> list[str]:
    """Confirm topics at once, without the double opt-in mail: for consent proven
    otherwise (a signed agreement that contains it, or the person's own mailed link).
    Returns the topics newly confirmed. No commit."""
    moved = _move_unconfirmed(
        contact,
        topics,
        SubscriptionStatus.CONFIRMED,
        action=ConsentAction.CONFIRMED,
        channel=channel,
        notice=notice,
        origin=origin,
        evidence=evidence,
        details=details,
    )
    return [topic.slug for topic in moved]


def _move_unconfirmed(
    contact: Contact,
    topics: Sequence[Topic],
    status: SubscriptionStatus,
    *,
    action: ConsentAction,
    channel: str,
    notice: PrivacyNotice | None,
    origin: Origin | None,
    evidence: str | None,
    details: Mapping[str, object],
) -> list[Topic]:
    """Move each of `topics` not confirmed yet to `status`, with its ledger row; the
    confirmed ones stay as they are. Returns the topics moved."""
    current = subscriptions_of(contact)
    moved: list[Topic] = []
    for topic in topics:
        sub = subscription_for(contact, topic, current)
        if sub.status == SubscriptionStatus.CONFIRMED.value:
            continue
        if change_subscription(
            sub,
            status,
            action=action,
            channel=channel,
            notice=notice,
            origin=origin,
            evidence=evidence,
            details=details,
        ):
            moved.append(topic)
    return moved


def _notice_for(language: str) -> PrivacyNotice:
    return notices.current_notice(language)


def request_in_transaction(
    *,
    email: str,
    name: str,
    topic_slugs: Sequence[str],
    language: str,
    origin: Origin | None,
    notice: PrivacyNotice | None,
    channel: str = ConsentChannel.WEB_FORM.value,
    evidence: str | None = None,
    send_mail: bool = True,
    contact: Contact | None = None,
    details: Mapping[str, object] | None = None,
) -> None:
    """Record a subscription request and queue its confirmation mail, without committing.

    Topics already confirmed stay as they are. The answer to the person is the same
    whatever happens here, so nothing tells whether the address was known. `details`
    adds to what the ledger rows say (where the request came from).
    """
    topics = topics_by_slug(topic_slugs)
    if contact is None:
        contact = find_or_create_contact(email, language, channel, name=name)
    db.session.flush()
    to_confirm = _move_unconfirmed(
        contact,
        topics,
        SubscriptionStatus.PENDING,
        action=ConsentAction.REQUESTED,
        channel=channel,
        notice=notice,
        origin=origin,
        evidence=evidence,
        details={"topics": [t.slug for t in topics], "language": language, **(details or {})},
    )
    if not send_mail or not may_mail(contact.mail_address, CONFIRMATION_KINDS):
        return
    if to_confirm:
        _queue_confirmation(contact, to_confirm, language)
    else:
        queue_email(
            to=contact.mail_address,
            template="subscribe_already",
            language=language,
            subject=_l("You are already subscribed"),
            context={"preferences_url": preferences_url(contact)},
            contact_id=contact.id,
        )


def request_subscription(
    *,
    email: str,
    name: str,
    topic_slugs: Sequence[str],
    language: str,
    origin: Origin | None,
    notice: PrivacyNotice,
) -> None:
    """Step 1 of the double opt-in, from the subscribe form."""
    request_in_transaction(
        email=email,
        name=name,
        topic_slugs=topic_slugs,
        language=language,
        origin=origin,
        notice=notice,
    )
    db.session.commit()


def _queue_confirmation(contact: Contact, topics: list[Topic], language: str) -> None:
    token = make_token(Purpose.CONFIRM, contact, t=[topic.slug for topic in topics], l=language)
    queue_email(
        to=contact.mail_address,
        template="subscribe_confirm",
        language=language,
        subject=_l("Please confirm your subscription"),
        context={
            "confirm_url": external_url("subscriptions.confirm", token=token),
            "topics": [topic.label(language) for topic in topics],
            "valid_days": lifetime_days(Purpose.CONFIRM),
        },
        contact_id=contact.id,
    )


def resend_confirmation(payload: dict[str, object]) -> None:
    """An expired confirmation link was used: send a fresh one if still relevant."""
    contact = find_contact_by_public_id(str(payload.get("c", "")))
    if contact is None or not address_matches(contact.email, str(payload.get("h", ""))):
        return
    raw_slugs = payload.get("t")
    slugs = [str(slug) for slug in raw_slugs] if isinstance(raw_slugs, list) else []
    pending = [
        sub.topic
        for slug, sub in subscriptions_of(contact).items()
        if slug in slugs and sub.status == SubscriptionStatus.PENDING.value
    ]
    language = str(payload.get("l") or contact.language)
    if pending and may_mail(contact.mail_address, CONFIRMATION_KINDS):
        _queue_confirmation(contact, pending, language)
        db.session.commit()


def read_confirmation(raw: str) -> tuple[Token, Contact]:
    """Verify a confirmation link (raises TokenInvalid / TokenExpired)."""
    token = read_token(Purpose.CONFIRM, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    return token, contact


def pending_topic_labels(token: Token, contact: Contact, language: str) -> list[str]:
    """Labels of the topics a confirmation link would confirm now."""
    slugs = token.payload.get("t") or []
    return [
        sub.topic.label(language)
        for slug, sub in subscriptions_of(contact).items()
        if slug in slugs and sub.status == SubscriptionStatus.PENDING.value
    ]


def confirm_subscription(raw: str, origin: Origin, language: str) -> ConfirmResult:
    """Step 2 of the double opt-in: confirm the link's pending topics, send a welcome."""
    token, contact = read_confirmation(raw)
    slugs = [str(slug) for slug in token.payload.get("t") or []]
    subs = subscriptions_of(contact)
    chosen = [subs[slug] for slug in slugs if slug in subs]
    pending = [sub for sub in chosen if sub.status == SubscriptionStatus.PENDING.value]
    if not pending:
        return _outcome_without_change(chosen, contact)

    notice = _notice_for(language)
    details: dict[str, object] = {
        "link_signed_at": token.issued_at.isoformat(),
        "via": "confirmation link",
    }
    if lift_suppression(contact.mail_address):
        # The person's own new opt-in is new consent: it ends an earlier suppression.
        details["suppression_lifted"] = True
    topics = [
        sub.topic
        for sub in pending
        if change_subscription(
            sub,
            SubscriptionStatus.CONFIRMED,
            action=ConsentAction.CONFIRMED,
            channel=ConsentChannel.WEB_FORM.value,
            notice=notice,
            origin=origin,
            details=details,
        )
    ]
    if not topics:
        # A second press that lost the race: the first one made the change.
        db.session.commit()
        return _outcome_without_change(chosen, contact)
    _queue_welcome(contact, topics, str(token.payload.get("l") or contact.language))
    db.session.commit()
    return ConfirmResult(outcome=ConfirmOutcome.CONFIRMED, topics=topics, contact=contact)


def _outcome_without_change(chosen: Sequence[Subscription], contact: Contact) -> ConfirmResult:
    confirmed = [sub.topic for sub in chosen if sub.status == SubscriptionStatus.CONFIRMED.value]
    outcome = ConfirmOutcome.ALREADY_CONFIRMED if confirmed else ConfirmOutcome.NOTHING_PENDING
    return ConfirmResult(outcome=outcome, topics=confirmed, contact=contact)


def _queue_welcome(contact: Contact, topics: list[Topic], language: str) -> None:
    """The welcome mail carries the one-click unsubscribe headers, like a newsletter."""
    unsubscribe = make_unsubscribe_url(contact)
    queue_email(
        to=contact.mail_address,
        template="welcome",
        language=language,
        subject=_l("Welcome: your subscription is confirmed"),
        context={
            "topics": [topic.label(language) for topic in topics],
            "unsubscribe_url": unsubscribe,
            "preferences_url": preferences_url(contact),
        },
        contact_id=contact.id,
        headers=list_unsubscribe_headers(unsubscribe),
        requires_subscription=True,
    )


def withdraw(
    contact: Contact,
    topic_slugs: Sequence[str] | None,
    channel: str,
    origin: Origin | None,
    language: str,
    details: Mapping[str, object] | None = None,
) -> list[Topic]:
    """Stop `topic_slugs` (all topics when None) at once; returns what was stopped.

    Idempotent: topics already stopped write nothing. The caller commits.
    """
    notice = _notice_for(language)
    stopped: list[Topic] = []
    for slug, sub in sorted(subscriptions_of(contact).items()):
        if topic_slugs is not None and slug not in topic_slugs:
            continue
        if sub.status not in ACTIVE:
            continue
        if change_subscription(
            sub,
            SubscriptionStatus.UNSUBSCRIBED,
            action=ConsentAction.WITHDRAWN,
            channel=channel,
            notice=notice,
            origin=origin,
            details=details,
        ):
            stopped.append(sub.topic)
    return stopped


def read_unsubscribe(raw: str) -> tuple[Token, Contact]:
    """Verify an unsubscribe link (raises TokenInvalid; these links do not expire)."""
    token = read_token(Purpose.UNSUBSCRIBE, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    return token, contact


def unsubscribe(raw: str, channel: str, origin: Origin) -> tuple[Contact, list[Topic]]:
    """The one-click target: withdraw the link's topics now, whatever the request carried."""
    token, contact = read_unsubscribe(raw)
    slugs = token.payload.get("t")
    chosen = [str(slug) for slug in slugs] if isinstance(slugs, list) else None
    campaign = token.payload.get("k")
    details = {"campaign": str(campaign)} if campaign else None
    stopped = withdraw(contact, chosen, channel, origin, contact.language, details)
    db.session.commit()
    return contact, stopped


_SUBSCRIPTIONS = Subscription.__table__
_CONFIRMED_TO_TOPIC = (
    sa.select(sa.literal(1))
    .where(
        _SUBSCRIPTIONS.c.contact_id == sa.bindparam("contact"),
        _SUBSCRIPTIONS.c.topic_id == sa.bindparam("topic"),
        _SUBSCRIPTIONS.c.status == SubscriptionStatus.CONFIRMED.value,
    )
    .limit(1)
)
_CONFIRMED_TO_ANY = (
    sa.select(sa.literal(1))
    .where(
        _SUBSCRIPTIONS.c.contact_id == sa.bindparam("contact"),
        _SUBSCRIPTIONS.c.status == SubscriptionStatus.CONFIRMED.value,
    )
    .limit(1)
)


def consent_still_given(contact_id: int | None, topic_id: int | None) -> bool:
    """Checked by the worker just before sending a mail that needs consent: a confirmed
    subscription to `topic_id`, or to any topic when it is empty."""
    if contact_id is None:
        return False
    if topic_id is None:
        found = db.session.execute(_CONFIRMED_TO_ANY, {"contact": contact_id})
    else:
        found = db.session.execute(_CONFIRMED_TO_TOPIC, {"contact": contact_id, "topic": topic_id})
    return found.first() is not None


def purge_unconfirmed(older_than: timedelta | None = None) -> int:
    """Remove sign-ups never confirmed within the retention period (P10).

    The pending subscriptions go, with an "expired" ledger row each; a contact that
    has nothing else (no subscription, no message) goes with its mails, and the
    client addresses in its ledger rows are blanked. The ledger keeps the
    pseudonymous history. Returns how many contacts were removed.
    """
    if older_than is None:
        older_than = timedelta(days=current_app.config["UNCONFIRMED_RETENTION_DAYS"])
    cutoff = utcnow() - older_than
    stale = list(
        db.session.scalars(
            sa.select(Subscription).where(
                Subscription.status == SubscriptionStatus.PENDING.value,
                Subscription.requested_at < cutoff,
            )
        )
    )
    touched: dict[int, Contact] = {}
    for sub in stale:
        touched[sub.contact_id] = sub.contact
        record_consent(
            contact=sub.contact,
            purpose=ConsentPurpose.NEWSLETTER.value,
            action=ConsentAction.EXPIRED.value,
            channel=ConsentChannel.WEB_FORM.value,
            notice=None,
            topic_id=sub.topic_id,
            details={"reason": "not confirmed in time"},
        )
        db.session.delete(sub)
    db.session.flush()
    removed = 0
    for contact in touched.values():
        if _holds_nothing_else(contact):
            remove_contact_data(contact)
            removed += 1
    db.session.commit()
    return removed


def _holds_nothing_else(contact: Contact) -> bool:
    """Only a bare web sign-up goes: not a customer, not one with offline consent,
    a disclosure or a request, which have reasons of their own to be kept."""
    if contact.source_channel != ConsentChannel.WEB_FORM.value:
        return False
    if contact.last_invoice_on is not None or contact.legal_hold_until is not None:
        return False
    ties = [
        sa.select(ConsentEvent.id).where(
            ConsentEvent.subject_id == contact.public_id,
            ConsentEvent.channel != ConsentChannel.WEB_FORM.value,
        ),
        sa.select(DisclosureSubject.id).where(DisclosureSubject.subject_id == contact.public_id),
        sa.select(DataRequest.id).where(DataRequest.subject_id == contact.public_id),
    ]
    if any(db.session.scalar(tie.limit(1)) is not None for tie in ties):
        return False
    has_subscription = db.session.scalar(
        sa.select(sa.func.count(Subscription.id)).where(Subscription.contact_id == contact.id)
    )
    has_inquiry = db.session.scalar(
        sa.select(sa.func.count(Inquiry.id)).where(Inquiry.contact_id == contact.id)
    )
    return not has_subscription and not has_inquiry


def remove_contact_data(contact: Contact) -> None:
    """Delete a contact and its mails, blank its ledger rows' client data. No commit."""
    db.session.execute(sa.delete(OutboundEmail).where(OutboundEmail.contact_id == contact.id))
    db.session.execute(
        sa.update(ConsentEvent)
        .where(ConsentEvent.subject_id == contact.public_id)
        .values(client_address=None, user_agent=None)
    )
    db.session.delete(contact)
