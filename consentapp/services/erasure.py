"""Erasure: remove a person's data from every table that holds it (P10, DESIGN).

What stays: the consent ledger and the audit log keep their rows under the
contact's random public id (client addresses, user agents, evidence text and audit
details blanked; the audit log gets an `audit.redacted` entry naming what was
blanked, so its chain still verifies); a keyed hash of the address goes on the
suppression list; what accounting law requires stays under a legal hold, and nothing
else of that contact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.keyring import address_hmacs
from consentapp.models import (
    AuditEntry,
    Bounce,
    ConsentEvent,
    Contact,
    DataRequest,
    DisclosureSubject,
    FollowUpTask,
    Inquiry,
    InquiryNote,
    OutboundEmail,
    PersonalStatistic,
    RepermissionAsk,
    StaffUser,
    Subscription,
    utcnow,
)
from consentapp.models.contact import search_key
from consentapp.services import audit
from consentapp.services.outgoing_webhooks import emit
from consentapp.services.storage_scrub import scrub_after_commit
from consentapp.services.suppression import suppress

# Belgian law: accounting books 7 years, tax documents (invoices) 10 years.
TAX_DOCUMENTS_YEARS = 10
HELD_FIELDS = ("name", "company", "address")
# What an erasure deletes from or blanks in: their files are scrubbed after the commit.
TOUCHED_TABLES = (
    "audit_entries",
    "consent_events",
    "contacts",
    "data_requests",
    "inquiries",
    "inquiry_notes",
    "outbound_emails",
    "subscriptions",
)


@dataclass(frozen=True)
class ErasureResult:
    """What an erasure did."""

    subject_id: str
    held_until: date | None
    kept_fields: tuple[str, ...]
    follow_ups: int


@dataclass(frozen=True)
class ErasurePreview:
    """What an erasure of one contact will remove and what it keeps, counted (read only).

    `removed` and `kept` map a kind (`subscriptions`, `consent_events`, ...) to a count.
    """

    removed: dict[str, int]
    kept: dict[str, int]
    held_until: date | None
    held_fields: tuple[str, ...]
    suppressed: bool


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def legal_hold_until(contact: Contact, today: date | None = None) -> date | None:
    """Until when invoicing data must be kept, if the contact was invoiced recently enough."""
    if contact.last_invoice_on is None:
        return None
    until = add_years(contact.last_invoice_on, TAX_DOCUMENTS_YEARS)
    return until if until > (today or utcnow().date()) else None


def _requests_of(subject: str, email: str) -> sa.ColumnElement[bool]:
    """The person's requests: by their public id or by a keyed hash of their address."""
    concerned = [DataRequest.subject_id == subject]
    if email:
        concerned.append(DataRequest.address_hmac.in_(address_hmacs(email)))
    return sa.or_(*concerned)


def _erase_requests(subject: str, email: str) -> list[str]:
    """The person's requests keep kind, dates and status; staff notes about them go."""
    requests = list(db.session.scalars(sa.select(DataRequest).where(_requests_of(subject, email))))
    for request in requests:
        request.email = None
        request.subject_id = subject
        if request.verification and request.verification.startswith("staff:"):
            request.verification = "staff check (its note was erased)"
        request.extension_reason = "(erased)" if request.extension_reason else None
        request.denial_reason = "(erased)" if request.denial_reason else None
        request.note = None
    return [request.public_id for request in requests]


def _addresses_used(about: sa.ColumnElement[bool], subject: str) -> set[str]:
    """The client addresses the person wrote from: of their consent records and of the
    audit entries about them that no staff member and no API token made."""
    ledger = sa.select(ConsentEvent.client_address).where(
        ConsentEvent.subject_id == subject, ConsentEvent.client_address.is_not(None)
    )
    visits = sa.select(AuditEntry.client_address).where(
        about, _by_nobody_named(), AuditEntry.client_address.is_not(None)
    )
    return {address for address in db.session.scalars(ledger.union(visits)) if address}


def _by_nobody_named() -> sa.ColumnElement[bool]:
    """Entries a visitor caused: neither a staff account nor a named system (an API
    token) made them, so their client address may be the person's."""
    return sa.and_(AuditEntry.actor_id.is_(None), AuditEntry.actor_label == "")


def _audit_of(
    subject: str, inquiry_ids: list[str], request_ids: list[str]
) -> sa.ColumnElement[bool]:
    """The audit entries about the person, and those the person made from an address
    they used (a preferences link asked for, say, which names nobody)."""
    about = sa.or_(
        sa.and_(AuditEntry.target_type == "contact", AuditEntry.target_id == subject),
        sa.and_(AuditEntry.target_type == "inquiry", AuditEntry.target_id.in_(inquiry_ids)),
        sa.and_(AuditEntry.target_type == "request", AuditEntry.target_id.in_(request_ids)),
    )
    addresses = _addresses_used(about, subject)
    if not addresses:
        return about
    return sa.or_(about, sa.and_(_by_nobody_named(), AuditEntry.client_address.in_(addresses)))


def _redact_audit(
    subject: str, inquiry_ids: list[str], request_ids: list[str], actor: StaffUser | None
) -> None:
    """Blank the person's audit entries in one redaction that the chain check accepts."""
    audit.redact(_audit_of(subject, inquiry_ids, request_ids), f"erasure of {subject}", actor)


def _mails_of(contact: Contact, addresses: Sequence[str]) -> sa.ColumnElement[bool]:
    """The contact's mails and those to or naming `addresses`."""
    return sa.or_(
        OutboundEmail.contact_id == contact.id,
        OutboundEmail.to_address.in_(addresses),
        *(OutboundEmail.body_text.contains(address) for address in addresses),
    )


def remove_mails_and_client_data(
    contact: Contact, addresses: Sequence[str] = (), *, evidence: bool = False
) -> None:
    """Delete the contact's mails (and those to or naming `addresses`) and blank the
    client address and user agent (and the evidence, if asked) in its ledger rows,
    which stay under the random public id. The one path for an erasure and for an
    expired sign-up; the contact row is the caller's (a legal hold may keep it). No commit.
    """
    db.session.execute(
        sa.delete(OutboundEmail).where(_mails_of(contact, addresses)),
        execution_options={"synchronize_session": False},
    )
    blanked: dict[str, None] = {"client_address": None, "user_agent": None}
    if evidence:
        blanked["evidence"] = None
    db.session.execute(
        sa.update(ConsentEvent)
        .where(ConsentEvent.subject_id == contact.public_id)
        .values(**blanked),
        execution_options={"synchronize_session": False},
    )


def _count(statement: sa.Select[Any]) -> int:
    return int(db.session.scalar(statement) or 0)


def erasure_preview(contact: Contact) -> ErasurePreview:
    """Count what `erase_person(contact)` would remove and keep, changing nothing."""
    subject = contact.public_id
    email = contact.email or ""
    addresses = [address for address in (email, contact.pending_email) if address]
    count = sa.func.count()
    inquiries = sa.select(Inquiry.id).where(Inquiry.contact_id == contact.id)
    inquiry_ids = list(
        db.session.scalars(sa.select(Inquiry.public_id).where(Inquiry.contact_id == contact.id))
    )
    requests = _requests_of(subject, email)
    request_ids = list(db.session.scalars(sa.select(DataRequest.public_id).where(requests)))
    held_until = legal_hold_until(contact)
    removed = {
        "subscriptions": _count(
            sa.select(count).select_from(Subscription).where(Subscription.contact_id == contact.id)
        ),
        "inquiries": len(inquiry_ids),
        "inquiry_notes": _count(sa.select(count).where(InquiryNote.inquiry_id.in_(inquiries))),
        "bounces": _count(sa.select(count).where(Bounce.contact_id == contact.id)),
        "mails": _count(sa.select(count).where(_mails_of(contact, addresses))),
    }
    kept = {
        "consent_events": _count(sa.select(count).where(ConsentEvent.subject_id == subject)),
        "audit_entries": _count(
            sa.select(count).where(_audit_of(subject, inquiry_ids, request_ids))
        ),
        "requests": len(request_ids),
        "disclosures": _count(
            sa.select(sa.func.count(sa.distinct(DisclosureSubject.disclosure_id))).where(
                DisclosureSubject.subject_id == subject
            )
        ),
    }
    return ErasurePreview(
        removed=removed,
        kept=kept,
        held_until=held_until,
        held_fields=HELD_FIELDS if held_until else (),
        suppressed=bool(email),
    )


def erase_person(
    contact: Contact, actor: StaffUser | None = None, reason: str = ""
) -> ErasureResult:
    """Remove everything about `contact` except what a legal hold keeps. No commit.

    Recipients of disclosures about the person each get a follow-up task (art. 19).
    """
    subject = contact.public_id
    email = contact.email or ""
    now = utcnow()
    scrub_after_commit(TOUCHED_TABLES)

    disclosure_ids = set(
        db.session.scalars(
            sa.select(DisclosureSubject.disclosure_id).where(
                DisclosureSubject.subject_id == subject
            )
        )
    )
    for disclosure_id in sorted(disclosure_ids):
        db.session.add(
            FollowUpTask(disclosure_id=disclosure_id, subject_id=subject, reason="erasure")
        )

    inquiry_ids = list(
        db.session.scalars(sa.select(Inquiry.public_id).where(Inquiry.contact_id == contact.id))
    )
    request_ids = _erase_requests(subject, email)
    _redact_audit(subject, inquiry_ids, request_ids, actor)
    db.session.execute(
        sa.delete(InquiryNote).where(
            InquiryNote.inquiry_id.in_(
                sa.select(Inquiry.id).where(Inquiry.contact_id == contact.id)
            )
        )
    )
    db.session.execute(sa.delete(Inquiry).where(Inquiry.contact_id == contact.id))
    db.session.execute(sa.delete(Subscription).where(Subscription.contact_id == contact.id))
    db.session.execute(sa.delete(Bounce).where(Bounce.contact_id == contact.id))
    db.session.execute(
        sa.delete(PersonalStatistic).where(PersonalStatistic.contact_id == contact.id)
    )
    db.session.execute(sa.delete(RepermissionAsk).where(RepermissionAsk.contact_id == contact.id))

    addresses = [address for address in (email, contact.pending_email) if address]
    remove_mails_and_client_data(contact, addresses, evidence=True)
    if email:
        suppress(email, "erasure")

    held_until = legal_hold_until(contact)
    if held_until:
        contact.email = None
        contact.pending_email = None
        contact.pending_email_requested_at = None
        contact.phone = ""
        contact.fax = ""
        contact.legal_hold_until = held_until
        contact.erased_at = now
        contact.undeliverable_at = None
        contact.undeliverable_reason = None
        contact.statistics_since = None
        contact.search_text = search_key(contact.name, "", contact.company)
    else:
        db.session.delete(contact)
    emit("contact.erased", subject_id=subject)
    audit.record(
        "person.erased",
        target_type="contact",
        target_id=subject,
        details={
            "held_until": held_until.isoformat() if held_until else None,
            "follow_ups": len(disclosure_ids),
            "reason": reason,
        },
        actor=actor,
        keep_address=actor is not None,
    )
    return ErasureResult(
        subject_id=subject,
        held_until=held_until,
        kept_fields=HELD_FIELDS if held_until else (),
        follow_ups=len(disclosure_ids),
    )
