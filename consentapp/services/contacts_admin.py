"""What staff do with contacts: find, correct, unsubscribe, record offline consent (P1, P2).

Every change writes its ledger row and its audit entry in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    ApiToken,
    AuditEntry,
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    Inquiry,
    OutboundEmail,
    StaffUser,
    Subscription,
)
from consentapp.services import audit, notices
from consentapp.services.consent import ConsentSource, record_consent
from consentapp.services.contact_details import normalise_email, normalise_phone
from consentapp.services.contacts import find_contact, find_or_create_contact
from consentapp.services.subscriptions import subscribe_with_evidence, withdraw
from consentapp.services.suppression import check_not_suppressed
from consentapp.services.topics import subscriptions_of, topics_by_slug

# What staff may correct: the details, plus the address, language and invoicing date.
EDITABLE = ("email", *Contact.DETAIL_FIELDS, "language", "last_invoice_on")
OFFLINE_CHANNELS = (
    ConsentChannel.AGREEMENT,
    ConsentChannel.EMAIL,
    ConsentChannel.PHONE,
)


class AddressTaken(ValueError):
    """Another contact already has this address."""


@dataclass(frozen=True)
class ContactRecord:
    """Everything the contact page shows about one person."""

    contact: Contact
    subscriptions: dict[str, Subscription]
    events: list[ConsentEvent]
    inquiries: list[Inquiry]
    mails: list[OutboundEmail]
    trail: list[AuditEntry]


def open_contact(public_id: str, actor: StaffUser) -> ContactRecord | None:
    """Load a contact for a staff member and log the view. Commits the audit entry."""
    contact = db.session.scalar(sa.select(Contact).where(Contact.public_id == public_id))
    if contact is None:
        return None
    audit.record("contact.view", target_type="contact", target_id=contact.public_id, actor=actor)
    db.session.commit()
    return ContactRecord(
        contact=contact,
        subscriptions=subscriptions_of(contact),
        events=list(
            db.session.scalars(
                sa.select(ConsentEvent)
                .where(ConsentEvent.subject_id == contact.public_id)
                .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
            )
        ),
        inquiries=list(contact.inquiries),
        mails=list(
            db.session.scalars(
                sa.select(OutboundEmail)
                .where(OutboundEmail.contact_id == contact.id)
                .order_by(OutboundEmail.created_at.desc())
                .limit(100)
            )
        ),
        trail=list(
            db.session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.target_type == "contact", AuditEntry.target_id == public_id)
                .order_by(AuditEntry.id.desc())
                .limit(100)
            )
        ),
    )


def _checked_value(contact: Contact, field: str, raw: str) -> object:
    """A field's new value, normalised; a new address must be free and not suppressed."""
    if field == "last_invoice_on":
        return date.fromisoformat(raw) if raw else None
    if field in Contact.PHONE_FIELDS:
        return normalise_phone(raw)
    if field == "email":
        value = normalise_email(raw)
        if value != contact.email:
            if find_contact(value) is not None:
                raise AddressTaken(value)
            check_not_suppressed(value)
        return value
    return raw


def rectify_by_staff(
    contact: Contact, changes: Mapping[str, str], reason: str, actor: StaffUser | ApiToken
) -> list[str]:
    """Correct fields with a stated reason: a ledger row per field, one audit entry.

    A new address must be free and not suppressed; it ends the old mailed links.
    Commits when something changed.
    """
    changed: list[str] = []
    for field in EDITABLE:
        if field not in changes:
            continue
        value = _checked_value(contact, field, changes[field].strip())
        if getattr(contact, field) != value:
            setattr(contact, field, value)
            changed.append(field)
    if not changed:
        return changed
    notice = notices.current_notice(contact.language)
    for field in changed:
        record_consent(
            contact=contact,
            purpose=ConsentPurpose.CONTACT,
            action=ConsentAction.RECTIFIED,
            channel=_channel_of(actor),
            notice=notice,
            details={"field": field, "by": audit.actor_name(actor)},
        )
    audit.record(
        "contact.edit",
        target_type="contact",
        target_id=contact.public_id,
        details={"fields": changed, "reason": reason},
        actor=actor,
    )
    db.session.commit()
    return changed


def _channel_of(actor: StaffUser | ApiToken) -> ConsentChannel:
    """The ledger's channel for a change made by a staff member or by another system."""
    return ConsentChannel.API if isinstance(actor, ApiToken) else ConsentChannel.STAFF


def unsubscribe_by_staff(
    contact: Contact, slugs: Sequence[str] | None, reason: str, actor: StaffUser | ApiToken
) -> list[str]:
    """Withdraw topics on the person's behalf (asked by phone, say). Commits."""
    stopped = withdraw(
        contact, slugs, _channel_of(actor), None, contact.language, {"by": audit.actor_name(actor)}
    )
    names = [topic.slug for topic in stopped]
    audit.record(
        "contact.unsubscribe",
        target_type="contact",
        target_id=contact.public_id,
        details={"topics": names, "reason": reason},
        actor=actor,
    )
    db.session.commit()
    return names


@dataclass(frozen=True)
class OfflineConsent:
    """A contact or consent that reached us by agreement, e-mail or phone."""

    email: str
    channel: str
    obtained_on: date
    evidence: str
    language: str = "nl"
    name: str = ""
    company: str = ""
    phone: str = ""
    topics: tuple[str, ...] = ()
    send_confirmation: bool = True
    agreement_covers_newsletters: bool = False


@dataclass(frozen=True)
class CaptureResult:
    """What recording an offline consent did."""

    contact: Contact
    created: bool
    confirmed: list[str]
    pending: list[str]


def record_offline_consent(consent: OfflineConsent, actor: StaffUser | ApiToken) -> CaptureResult:
    """Record the contact and its consent with channel and evidence (P1). Commits.

    Newsletter topics follow the rule for consent with evidence
    (`subscriptions.subscribe_with_evidence`).
    """
    if consent.channel not in OFFLINE_CHANNELS:
        raise ValueError(f"unknown offline channel {consent.channel!r}")
    if not consent.evidence.strip():
        raise ValueError("evidence is required")
    email = normalise_email(consent.email)
    check_not_suppressed(email)
    existing = find_contact(email)
    contact = existing or find_or_create_contact(
        email,
        consent.language,
        consent.channel,
        name=consent.name,
        company=consent.company,
        phone=consent.phone,
    )
    db.session.flush()
    notice = notices.current_notice(contact.language)
    details = {
        "obtained_on": consent.obtained_on.isoformat(),
        "recorded_by": audit.actor_name(actor),
    }
    record_consent(
        contact=contact,
        purpose=ConsentPurpose.CONTACT,
        action=ConsentAction.GIVEN,
        channel=consent.channel,
        notice=notice,
        evidence=consent.evidence,
        details=details,
    )
    topics = topics_by_slug(consent.topics)
    outcome = subscribe_with_evidence(
        contact,
        topics,
        ConsentSource(consent.channel, notice, evidence=consent.evidence, details=details),
        agreement_covers_newsletters=consent.agreement_covers_newsletters,
        send_mail=consent.send_confirmation,
    )
    audit.record(
        "consent.capture",
        target_type="contact",
        target_id=contact.public_id,
        details={
            "channel": consent.channel,
            "evidence": consent.evidence,
            "obtained_on": consent.obtained_on.isoformat(),
            "confirmed": outcome.confirmed,
            "pending": outcome.pending,
            "new_contact": existing is None,
        },
        actor=actor,
    )
    db.session.commit()
    return CaptureResult(
        contact=contact,
        created=existing is None,
        confirmed=outcome.confirmed,
        pending=outcome.pending,
    )
