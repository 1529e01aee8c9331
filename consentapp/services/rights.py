"""Data-subject requests on the person's side: received, identity checked, carried out
within the deadline (P11-P13, GDPR art. 12, 15-21). The staff side is in rights_admin."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.keyring import address_hmac
from consentapp.links import external_url, preferences_url
from consentapp.mail.outbox import queue_email
from consentapp.models import (
    ConsentChannel,
    ConsentEvent,
    Contact,
    DataRequest,
    Disclosure,
    DisclosureSubject,
    OutboundEmail,
    ProcessingActivity,
    RequestKind,
    RequestStatus,
    StaffUser,
    utcnow,
)
from consentapp.services import audit
from consentapp.services.contacts import find_contact, find_contact_by_public_id
from consentapp.services.csv_cells import csv_line
from consentapp.services.erasure import ErasureResult, erase_person
from consentapp.services.subscriptions import subscriptions_of, withdraw
from consentapp.services.suppression import suppress
from consentapp.services.throttle import may_mail
from consentapp.tokens import Purpose, Token, TokenInvalid, make_token, read_token, token_contact

REQUEST_MAIL_KINDS = ("identity_check", "no_data")
# The Belgian Data Protection Authority (Gegevensbeschermingsautoriteit).
COMPLAINT_AUTHORITY = "Drukpersstraat 35, 1000 Brussel"


class RequestError(ValueError):
    """A step that cannot be taken on this request now; `str()` says why."""


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day when it is shorter."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def open_request(
    kind: str, channel: str, email: str, language: str, contact: Contact | None
) -> DataRequest:
    """A new request, due in a month, keyed by its address's digest. No commit."""
    now = utcnow()
    request = DataRequest(
        kind=kind,
        channel=channel,
        email=email,
        address_hmac=address_hmac(email),
        subject_id=contact.public_id if contact else None,
        language=language,
        received_at=now,
        due_at=add_months(now, 1),
    )
    db.session.add(request)
    db.session.flush()
    return request


def submit_request(email: str, kind: str, language: str) -> None:
    """A request from the public form: nothing is shown or changed before the identity
    check. Known address: a verification link. Unknown: a mail saying we hold nothing.
    Same page either way. Commits."""
    if kind not in {k.value for k in RequestKind}:
        raise RequestError(f"unknown request kind {kind!r}")
    contact = find_contact(email)
    request = open_request(kind, "web", email, language, contact)
    audit.record("request.received", target_type="request", target_id=request.public_id)
    allowed = may_mail(email, REQUEST_MAIL_KINDS)
    if contact is None:
        request.status = RequestStatus.DONE.value
        request.completed_at = utcnow()
        request.outcome = "no data held about this address"
        request.email = None
        if allowed:
            queue_email(
                to=email,
                template="no_data",
                language=language,
                subject=_l("Your request about your personal data"),
            )
    elif allowed:
        token = make_token(Purpose.IDENTITY, contact, r=request.public_id)
        queue_email(
            to=email,
            template="identity_check",
            language=language,
            subject=_l("Please confirm your request about your personal data"),
            context={
                "verify_url": external_url("rights.verify", token=token),
                "kind": kind,
            },
            contact_id=contact.id,
        )
    db.session.commit()


@dataclass(frozen=True)
class VerifiedLink:
    """A verification link that checks out: the request and whose it is."""

    token: Token
    request: DataRequest
    contact: Contact


def read_identity_link(raw: str) -> VerifiedLink:
    """Verify the link of an identity check (raises TokenInvalid / TokenExpired)."""
    token = read_token(Purpose.IDENTITY, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    request = db.session.scalar(
        sa.select(DataRequest).where(DataRequest.public_id == str(token.payload.get("r", "")))
    )
    if request is None or request.subject_id != contact.public_id:
        raise TokenInvalid("no such request for this contact")
    return VerifiedLink(token=token, request=request, contact=contact)


def mark_verified(request: DataRequest, how: str, actor: StaffUser | None = None) -> None:
    """Record the identity check (P13). No commit."""
    request.status = RequestStatus.VERIFIED.value
    request.verified_at = utcnow()
    request.verification = how
    request.verified_by_id = actor.id if actor else None
    audit.record(
        "request.verified",
        target_type="request",
        target_id=request.public_id,
        details={"how": how},
        actor=actor,
    )


@dataclass(frozen=True)
class Outcome:
    """What carrying out a request did, for the page and the confirmation mail."""

    request: DataRequest
    erasure: ErasureResult | None = None
    export_token: str | None = None


def carry_out(request: DataRequest, contact: Contact, actor: StaffUser | None = None) -> Outcome:
    """Do what a verified request asks. Commits, and mails the outcome."""
    if request.status != RequestStatus.VERIFIED.value:
        raise RequestError("only a verified request can be carried out")
    email = contact.mail_address
    language = request.language
    result = Outcome(request=request)
    if request.kind == RequestKind.ACCESS.value:
        result = Outcome(
            request, export_token=make_token(Purpose.EXPORT, contact, r=request.public_id)
        )
        finish_request(request, "export provided", actor)
        _mail_outcome(email, language, request, contact)
    elif request.kind == RequestKind.OBJECTION.value:
        channel = ConsentChannel.STAFF if actor else ConsentChannel.WEB_FORM
        withdraw(contact, None, channel.value, None, language)
        suppress(email, "objection")
        finish_request(
            request, "all newsletters stopped; address suppressed for direct marketing", actor
        )
        _mail_outcome(email, language, request, contact)
    elif request.kind == RequestKind.ERASURE.value:
        erased = erase_person(contact, actor, reason=f"request {request.public_id}")
        result = Outcome(request, erasure=erased)
        held = f"; held for accounting until {erased.held_until}" if erased.held_until else ""
        finish_request(request, f"erased{held}", actor, keep_address=actor is not None)
        request.email = None
        queue_email(
            to=email,
            template="erasure_done",
            language=language,
            subject=_l("Your data has been erased"),
            context={"held_until": erased.held_until, "kept": erased.kept_fields},
            delete_after_send=True,
        )
    else:
        request.status = RequestStatus.IN_PROGRESS.value
        audit.record(
            "request.in_progress", target_type="request", target_id=request.public_id, actor=actor
        )
        _mail_outcome(email, language, request, contact)
    db.session.commit()
    return result


def finish_request(
    request: DataRequest, outcome: str, actor: StaffUser | None, keep_address: bool = True
) -> None:
    """Close a request as done, saying what was done. No commit."""
    request.status = RequestStatus.DONE.value
    request.completed_at = utcnow()
    request.outcome = outcome
    audit.record(
        f"request.{request.kind}",
        target_type="request",
        target_id=request.public_id,
        details={"outcome": outcome},
        actor=actor,
        keep_address=keep_address,
    )


def _mail_outcome(email: str, language: str, request: DataRequest, contact: Contact) -> None:
    queue_email(
        to=email,
        template="request_outcome",
        language=language,
        subject=_l("Your request about your personal data"),
        context={
            "kind": request.kind,
            "status": request.status,
            "preferences_url": preferences_url(contact),
        },
        contact_id=contact.id,
    )


# The export (art. 15 and 20) ----------------------------------------------------------


def build_export(contact: Contact) -> dict[str, Any]:
    """Everything we hold about the person, machine readable."""
    subject = contact.public_id
    events = db.session.scalars(
        sa.select(ConsentEvent).where(ConsentEvent.subject_id == subject).order_by(ConsentEvent.id)
    )
    disclosures = db.session.scalars(
        sa.select(Disclosure)
        .join(DisclosureSubject)
        .where(DisclosureSubject.subject_id == subject, Disclosure.withhold_from_subject.is_(False))
        .order_by(Disclosure.disclosed_on)
    )
    mails = db.session.scalars(
        sa.select(OutboundEmail)
        .where(OutboundEmail.contact_id == contact.id, OutboundEmail.to_address == contact.email)
        .order_by(OutboundEmail.created_at)
    )
    activities = db.session.scalars(
        sa.select(ProcessingActivity).order_by(ProcessingActivity.position)
    )
    return {
        "generated_at": utcnow().isoformat(timespec="seconds"),
        "controller": {
            "name": current_app.config["ORG_NAME"],
            "address": current_app.config["ORG_ADDRESS"],
            "email": current_app.config["ORG_EMAIL"],
        },
        "contact": {
            field: getattr(contact, field)
            for field in ("email", "name", "company", "address", "phone", "fax", "language")
        }
        | {"created_at": contact.created_at.isoformat(timespec="seconds")},
        "subscriptions": [
            {
                "topic": slug,
                "status": sub.status,
                "requested_at": sub.requested_at.isoformat(timespec="seconds"),
                "confirmed_at": sub.confirmed_at.isoformat(timespec="seconds")
                if sub.confirmed_at
                else None,
            }
            for slug, sub in sorted(subscriptions_of(contact).items())
        ],
        "consent_ledger": [
            {
                "at": e.occurred_at.isoformat(timespec="seconds"),
                "purpose": e.purpose,
                "action": e.action,
                "channel": e.channel,
                "topic_id": e.topic_id,
                "notice_version": e.notice_version,
                "notice_language": e.notice_language,
                "notice_sha256": e.notice_sha256,
                "client_address": e.client_address,
                "evidence": e.evidence,
            }
            for e in events
        ],
        "messages": [
            {
                "at": i.created_at.isoformat(timespec="seconds"),
                "message": i.message,
                "details_as_sent": i.submitted,
                "status": i.status,
            }
            for i in contact.inquiries
        ],
        "mails_sent": [
            {
                "at": m.created_at.isoformat(timespec="seconds"),
                "subject": m.subject,
                "status": m.status,
            }
            for m in mails
        ],
        "disclosures": [
            {
                "on": d.disclosed_on.isoformat(),
                "kind": d.kind,
                "recipient": d.recipient,
                "legal_basis": d.legal_basis,
                "data": d.data_categories,
            }
            for d in disclosures
        ],
        "processing": [a.as_dict() for a in activities],
        "your_rights": (
            "You may see, correct and have erased your data, object to direct marketing, "
            "and complain to the Belgian Data Protection Authority "
            "(Gegevensbeschermingsautoriteit), " + COMPLAINT_AUTHORITY + "."
        ),
    }


def export_csv(data: dict[str, Any]) -> Iterator[str]:
    """The export as CSV: section, item number, field, value."""
    yield csv_line(["section", "item", "field", "value"])
    for section, value in data.items():
        items = value if isinstance(value, list) else [value]
        for number, item in enumerate(items, start=1):
            if isinstance(item, dict):
                for field, cell in item.items():
                    yield csv_line([section, number, field, cell])
            else:
                yield csv_line([section, number, "", item])


def read_export_link(raw: str) -> Contact:
    """The contact an export link is for (one hour; dies with the address)."""
    token = read_token(Purpose.EXPORT, raw)
    return token_contact(token, find_contact_by_public_id(token.public_id))


UNVERIFIED_DAYS = 14


def expire_unverified(now: datetime | None = None) -> int:
    """Requests whose identity link was never used are closed after two weeks, and
    the address they carried is dropped. Returns how many. Commits."""
    cutoff = (now or utcnow()) - timedelta(days=UNVERIFIED_DAYS)
    stale = list(
        db.session.scalars(
            sa.select(DataRequest).where(
                DataRequest.status == RequestStatus.UNVERIFIED.value,
                DataRequest.channel == "web",
                DataRequest.received_at < cutoff,
            )
        )
    )
    for request in stale:
        request.status = RequestStatus.CANCELLED.value
        request.completed_at = utcnow()
        request.outcome = "identity never confirmed"
        request.email = None
        audit.record("request.expired", target_type="request", target_id=request.public_id)
    db.session.commit()
    return len(stale)
