"""The preferences page: topics, language, contact details and address (P11, P14).

The page is reached only through a mailed link. The one-day link the person asked
for proves they hold the address, so a topic added there is confirmed at once. The
lasting link in newsletter footers travels with every forwarded mail: a topic added
through it starts the double opt-in, like /subscribe; removing one is immediate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.keyring import address_hash, address_matches
from consentapp.links import external_url
from consentapp.mail.outbox import queue_email
from consentapp.mail.render import render_mail
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentPurpose,
    Contact,
    SubscriptionStatus,
    utcnow,
)
from consentapp.services import audit, notices, statistics_consent, undeliverable
from consentapp.services.consent import ConsentSource, Origin, record_consent
from consentapp.services.contact_details import normalise_phone
from consentapp.services.contacts import find_contact, find_contact_by_public_id
from consentapp.services.subscriptions import confirm_topics, request_in_transaction, withdraw
from consentapp.services.throttle import may_mail
from consentapp.services.topics import subscriptions_of, topics_by_slug
from consentapp.tokens import (
    Purpose,
    Token,
    TokenInvalid,
    lifetime_hours,
    make_token,
    read_token,
    token_contact,
)

# What the ledger says about a request made through a newsletter's footer link.
FOOTER_LINK = "preferences footer link"


class AddressInUse(Exception):
    """The new address already belongs to another contact."""


def send_preferences_link(email: str, language: str) -> None:
    """Mail a one-day preferences link to a known address; nothing to an unknown one.

    The mail is rendered either way, so both paths cost the same.
    """
    contact = find_contact(email)
    subject = _l("Your link to manage your subscriptions")
    # Both paths write and commit, so their timing does not tell the address apart.
    audit.record("preferences.link_requested")
    if contact is None:
        render_mail(
            "preferences_link",
            language,
            subject,
            preferences_url="",
            valid_hours=lifetime_hours(Purpose.PREFERENCES_REQUEST),
        )
        db.session.commit()
        return
    if not may_mail(contact.mail_address, "preferences_link"):
        db.session.commit()
        return
    token = make_token(Purpose.PREFERENCES_REQUEST, contact)
    queue_email(
        to=contact.mail_address,
        template="preferences_link",
        language=language,
        subject=subject,
        context={
            "preferences_url": external_url("subscriptions.preferences", token=token),
            "valid_hours": lifetime_hours(Purpose.PREFERENCES_REQUEST),
        },
        contact_id=contact.id,
    )
    db.session.commit()


@dataclass(frozen=True)
class PreferencesAccess:
    """Whose preferences a link opens, and how far.

    The lasting link in newsletter footers travels with every forwarded mail, so it
    opens topics and language only; contact details and the address change need the
    one-day link the person asks for (`full`).
    """

    contact: Contact
    full: bool


def read_preferences_token(raw: str) -> PreferencesAccess:
    """A footer link (lasting) or a requested link (one day). Raises TokenError."""
    try:
        token = read_token(Purpose.PREFERENCES, raw)
        full = False
    except TokenInvalid:
        token = read_token(Purpose.PREFERENCES_REQUEST, raw)
        full = True
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    return PreferencesAccess(contact=contact, full=full)


@dataclass(frozen=True)
class TopicChanges:
    """What a save did to the topics, by slug: confirmed at once, sent for
    confirmation by mail, stopped."""

    added: list[str]
    requested: list[str]
    removed: list[str]
    # Personal statistics: "given", "requested" (a confirmation mail), "withdrawn", "".
    statistics: str = ""

    def __bool__(self) -> bool:
        return bool(self.added or self.requested or self.removed or self.statistics)

    @property
    def mail_sent(self) -> bool:
        """A confirmation mail went out for something switched on."""
        return bool(self.requested) or self.statistics == "requested"


def update_topics(
    access: PreferencesAccess,
    wanted: Sequence[str],
    origin: Origin,
    language: str,
    statistics: bool | None = None,
) -> TopicChanges:
    """Switch topics (and, unless `statistics` is None, personal statistics) on and
    off. The caller commits. Personal statistics follow the topics' rule: given at
    once through the requested link, by the confirmation mail through the footer link,
    withdrawn at once through either (what was recorded deleted with it).

    Confirmed topics left out stop at once. A topic ticked that is not confirmed yet
    is confirmed at once through the requested link; through the footer link it gets
    the same confirmation mail and `requested` ledger rows as /subscribe (with its
    per-address limit), and nothing is confirmed before that mail's link is used.
    A topic waiting for confirmation and left unticked is left waiting.

    Saving through the requested link (a press, not a fetch a mail scanner could
    make) shows the mailbox works: it lifts an undeliverable mark.
    """
    contact = access.contact
    if access.full:
        undeliverable.clear(contact, undeliverable.CLEARED_BY_LINK)
    topics = topics_by_slug(wanted)
    current = subscriptions_of(contact)
    confirmed = {
        slug for slug, sub in current.items() if sub.status == SubscriptionStatus.CONFIRMED
    }
    notice = notices.current_notice(language)
    added: list[str] = []
    requested: list[str] = []
    if access.full:
        added = confirm_topics(
            contact,
            topics,
            ConsentSource(
                ConsentChannel.WEB_FORM, notice, origin, details={"via": "preferences link"}
            ),
        )
    switch_on = bool(statistics) and contact.statistics_since is None
    stats = ""
    if access.full and switch_on:
        source = ConsentSource(
            ConsentChannel.WEB_FORM, notice, origin, details={"via": "preferences link"}
        )
        stats = "given" if statistics_consent.give(contact, source) else ""
    elif not access.full:
        requested = [topic.slug for topic in topics if topic.slug not in confirmed]
        if requested or switch_on:
            request_in_transaction(
                email=contact.mail_address,
                name="",
                topic_slugs=requested,
                language=language,
                source=ConsentSource(
                    ConsentChannel.WEB_FORM, notice, origin, details={"via": FOOTER_LINK}
                ),
                contact=contact,
                statistics=switch_on,
            )
            stats = "requested" if switch_on else ""
    if statistics is False and contact.statistics_since is not None:
        source = ConsentSource(ConsentChannel.WEB_FORM, notice, origin)
        stats = "withdrawn" if statistics_consent.withdraw(contact, source) is not None else ""
    wanted_set = {topic.slug for topic in topics}
    to_stop = sorted(confirmed - wanted_set)
    removed = withdraw(contact, to_stop, ConsentChannel.WEB_FORM, origin, language)
    return TopicChanges(
        added=added,
        requested=requested,
        removed=[topic.slug for topic in removed],
        statistics=stats,
    )


def pending_slugs(contact: Contact) -> list[str]:
    """Topics asked for and waiting for the person's confirmation."""
    return [
        slug
        for slug, sub in subscriptions_of(contact).items()
        if sub.status == SubscriptionStatus.PENDING
    ]


def rectify(
    contact: Contact, changes: Mapping[str, str], origin: Origin, language: str
) -> list[str]:
    """Correct contact details; each changed field is a rectification in the ledger.

    The ledger names the field, not the old or new value, so it holds no copy of
    personal data that an erasure would have to chase. The caller commits.
    """
    notice = notices.current_notice(language)
    changed: list[str] = []
    for field in Contact.DETAIL_FIELDS:
        if field not in changes:
            continue
        value = changes[field].strip()
        if field in Contact.PHONE_FIELDS:
            value = normalise_phone(value)
        if getattr(contact, field) == value:
            continue
        setattr(contact, field, value)
        changed.append(field)
        record_consent(
            contact=contact,
            purpose=ConsentPurpose.CONTACT,
            action=ConsentAction.RECTIFIED,
            channel=ConsentChannel.WEB_FORM,
            notice=notice,
            origin=origin,
            details={"field": field, "via": "preferences link"},
        )
    return changed


def set_language(contact: Contact, language: str) -> bool:
    """The language of future mails. The caller commits."""
    if contact.language == language:
        return False
    contact.language = language
    return True


def request_email_change(contact: Contact, new_email: str, language: str) -> None:
    """Send a verification link to the new address and tell the old one.

    Nothing changes until the new address is verified.
    """
    if new_email == contact.email:
        return
    if not may_mail(new_email, "email_change_verify"):
        return
    contact.pending_email = new_email
    contact.pending_email_requested_at = utcnow()
    token = make_token(Purpose.EMAIL_CHANGE, contact, n=address_hash(new_email))
    queue_email(
        to=new_email,
        template="email_change_verify",
        language=language,
        subject=_l("Please confirm your new e-mail address"),
        context={"verify_url": external_url("subscriptions.verify_email", token=token)},
        contact_id=contact.id,
    )
    queue_email(
        to=contact.mail_address,
        template="email_change_notice",
        language=language,
        subject=_l("A change of your e-mail address was requested"),
        context={"masked_new": mask_email(new_email)},
        contact_id=contact.id,
    )
    db.session.commit()


def read_email_change(raw: str) -> tuple[Token, Contact]:
    """Verify an address-change link; it dies once used or when superseded."""
    token = read_token(Purpose.EMAIL_CHANGE, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    pending = contact.pending_email
    if not pending or not address_matches(pending, str(token.payload.get("n", ""))):
        raise TokenInvalid("no such pending address change")
    return token, contact


def apply_email_change(raw: str, origin: Origin, language: str) -> Contact:
    """Replace the address with the verified one; every earlier link dies with it."""
    _, contact = read_email_change(raw)
    new_email = str(contact.pending_email)
    if find_contact(new_email) is not None:
        raise AddressInUse(new_email)
    contact.email = new_email
    contact.pending_email = None
    contact.pending_email_requested_at = None
    undeliverable.clear(contact, undeliverable.CLEARED_BY_NEW_ADDRESS)
    record_consent(
        contact=contact,
        purpose=ConsentPurpose.CONTACT,
        action=ConsentAction.RECTIFIED,
        channel=ConsentChannel.WEB_FORM,
        notice=notices.current_notice(language),
        origin=origin,
        details={"field": "email", "via": "verification link"},
    )
    db.session.commit()
    return contact


def mask_email(email: str) -> str:
    """`j***@example.be`: enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
