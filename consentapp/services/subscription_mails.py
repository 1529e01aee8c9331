"""The mails of the double opt-in: the confirmation link, "already subscribed", the welcome."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from consentapp.links import external_url, list_unsubscribe_headers, preferences_url
from consentapp.links import unsubscribe_url as make_unsubscribe_url
from consentapp.mail.outbox import queue_email
from consentapp.models import Contact, Topic
from consentapp.services.receipts import build_receipt
from consentapp.services.statistics_consent import LABEL as STATISTICS_LABEL
from consentapp.tokens import Purpose, lifetime_days, make_token

# Link mails one address may receive per hour, whoever asks: the forms cannot be
# used to flood someone's mailbox.
CONFIRMATION_KINDS = ("subscribe_confirm", "subscribe_already")


def queue_confirmation(
    contact: Contact, topics: list[Topic], language: str, *, statistics: bool = False
) -> None:
    """The link confirms exactly `topics` (and personal statistics, when asked for
    with them), in the language the person chose."""
    extra = {"s": 1} if statistics else {}
    token = make_token(
        Purpose.CONFIRM, contact, t=[topic.slug for topic in topics], l=language, **extra
    )
    queue_email(
        to=contact.mail_address,
        template="subscribe_confirm",
        language=language,
        subject=_l("Please confirm your subscription"),
        context={
            "confirm_url": external_url("subscriptions.confirm", token=token),
            "topics": [topic.label(language) for topic in topics]
            + ([str(STATISTICS_LABEL)] if statistics else []),
            "valid_days": lifetime_days(Purpose.CONFIRM),
        },
        contact_id=contact.id,
    )


def queue_already_subscribed(contact: Contact, language: str) -> None:
    """Asked again with nothing left to confirm: the person is told, the page says the same."""
    queue_email(
        to=contact.mail_address,
        template="subscribe_already",
        language=language,
        subject=_l("You are already subscribed"),
        context={"preferences_url": preferences_url(contact)},
        contact_id=contact.id,
    )


def queue_welcome(contact: Contact, topics: list[Topic], language: str) -> None:
    """The welcome mail carries the one-click unsubscribe headers, like a newsletter, and
    the consent receipt built from the ledger rows the confirmation just wrote."""
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
            "receipt": build_receipt(contact, language),
        },
        contact_id=contact.id,
        headers=list_unsubscribe_headers(unsubscribe),
        requires_subscription=True,
    )
