"""Step 2 of the double opt-in: the mailed confirmation link (P7).

Confirming writes its ledger rows and queues the welcome mail in one transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from consentapp.extensions import db
from consentapp.keyring import address_matches
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    Contact,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from consentapp.services import notices, statistics_consent, undeliverable
from consentapp.services.consent import ConsentSource, Origin
from consentapp.services.contacts import find_contact_by_public_id
from consentapp.services.subscription_mails import (
    CONFIRMATION_KINDS,
    queue_confirmation,
    queue_welcome,
)
from consentapp.services.subscriptions import change_subscription
from consentapp.services.suppression import lift as lift_suppression
from consentapp.services.throttle import may_mail
from consentapp.services.topics import subscriptions_of
from consentapp.tokens import Purpose, Token, read_token, token_contact


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
    statistics: bool = False  # personal statistics were confirmed by this link


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
        if slug in slugs and sub.status == SubscriptionStatus.PENDING
    ]
    language = str(payload.get("l") or contact.language)
    statistics = payload.get("s") == 1 and statistics_consent.awaits_confirmation(contact)
    if (pending or statistics) and may_mail(contact.mail_address, CONFIRMATION_KINDS):
        queue_confirmation(contact, pending, language, statistics=statistics)
        db.session.commit()


def read_confirmation(raw: str) -> tuple[Token, Contact]:
    """Verify a confirmation link (raises TokenInvalid / TokenExpired)."""
    token = read_token(Purpose.CONFIRM, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    return token, contact


def pending_topic_labels(token: Token, contact: Contact, language: str) -> list[str]:
    """Labels of what a confirmation link would confirm now: topics, and personal
    statistics when the link asks for them and they are not given yet."""
    slugs = token.payload.get("t") or []
    labels = [
        sub.topic.label(language)
        for slug, sub in subscriptions_of(contact).items()
        if slug in slugs and sub.status == SubscriptionStatus.PENDING
    ]
    if _asks_statistics(token, contact):
        labels.append(str(statistics_consent.LABEL))
    return labels


def _asks_statistics(token: Token, contact: Contact) -> bool:
    return token.payload.get("s") == 1 and statistics_consent.awaits_confirmation(contact)


def confirm_subscription(raw: str, origin: Origin, language: str) -> ConfirmResult:
    """Step 2 of the double opt-in: confirm the link's pending topics, send a welcome."""
    token, contact = read_confirmation(raw)
    slugs = [str(slug) for slug in token.payload.get("t") or []]
    subs = subscriptions_of(contact)
    chosen = [subs[slug] for slug in slugs if slug in subs]
    pending = [sub for sub in chosen if sub.status == SubscriptionStatus.PENDING]
    statistics = _asks_statistics(token, contact)
    if not pending and not statistics:
        return _outcome_without_change(chosen, contact)

    notice = notices.current_notice(language)
    details: dict[str, object] = {
        "link_signed_at": token.issued_at.isoformat(),
        "via": "confirmation link",
    }
    if lift_suppression(contact.mail_address):
        # The person's own new opt-in is new consent: it ends an earlier suppression.
        details["suppression_lifted"] = True
    if undeliverable.clear(contact, undeliverable.CLEARED_BY_OPT_IN):
        # A confirmed opt-in shows the mailbox takes mail again.
        details["undeliverable_cleared"] = True
    source = ConsentSource(ConsentChannel.WEB_FORM, notice, origin, details=details)
    topics = [
        sub.topic
        for sub in pending
        if change_subscription(
            sub, SubscriptionStatus.CONFIRMED, action=ConsentAction.CONFIRMED, source=source
        )
    ]
    given = statistics and statistics_consent.give(contact, source)
    if not topics and not given:
        # A second press that lost the race: the first one made the change.
        db.session.commit()
        return _outcome_without_change(chosen, contact)
    if topics:
        queue_welcome(contact, topics, str(token.payload.get("l") or contact.language))
    db.session.commit()
    return ConfirmResult(
        outcome=ConfirmOutcome.CONFIRMED, topics=topics, contact=contact, statistics=given
    )


def _outcome_without_change(chosen: Sequence[Subscription], contact: Contact) -> ConfirmResult:
    confirmed = [sub.topic for sub in chosen if sub.status == SubscriptionStatus.CONFIRMED]
    outcome = ConfirmOutcome.ALREADY_CONFIRMED if confirmed else ConfirmOutcome.NOTHING_PENDING
    return ConfirmResult(outcome=outcome, topics=confirmed, contact=contact)
