"""Data-subject requests on the staff side: logged from e-mail, phone or letter,
extended, denied, completed by hand or cancelled (P12, GDPR art. 12)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.mail.outbox import queue_email
from consentapp.models import (
    OPEN_REQUEST_STATUSES,
    ApiToken,
    Contact,
    DataRequest,
    RequestKind,
    RequestStatus,
    StaffUser,
    utcnow,
)
from consentapp.services import audit
from consentapp.services.contact_details import normalise_email
from consentapp.services.contacts import find_contact, find_contact_by_public_id
from consentapp.services.rights import (
    COMPLAINT_AUTHORITY,
    RequestError,
    add_months,
    finish_request,
    mark_verified,
    open_request,
)

MAX_EXTENSION_MONTHS = 2
STAFF_CHANNELS = ("email", "phone", "letter")
NOTE_LENGTH = 2000


def log_request(
    kind: str,
    channel: str,
    email: str,
    verification: str,
    language: str,
    actor: StaffUser | ApiToken,
    note: str = "",
) -> DataRequest:
    """A request that came by e-mail, phone or letter (P12), with the identity check
    staff did (P13): only a staff member records one; a request another system logs
    waits for it. Commits."""
    if kind not in set(RequestKind) or channel not in STAFF_CHANNELS:
        raise RequestError("unknown kind or channel")
    if verification.strip() and not isinstance(actor, StaffUser):
        raise RequestError("only a staff member records an identity check")
    email = normalise_email(email)
    contact = find_contact(email)
    request = open_request(kind, channel, email, language, contact)
    request.logged_by_id = actor.id if isinstance(actor, StaffUser) else None
    request.note = note.strip()[:NOTE_LENGTH] or None
    audit.record(
        "request.logged",
        target_type="request",
        target_id=request.public_id,
        details={"kind": kind, "channel": channel},
        actor=actor,
    )
    if verification.strip() and isinstance(actor, StaffUser):
        mark_verified(request, f"staff: {verification.strip()}", actor)
    db.session.commit()
    return request


def log_erasure(
    contact: Contact, channel: str, language: str, note: str, actor: StaffUser | ApiToken
) -> DataRequest:
    """An erasure request for a contact we know, logged like any other (the identity
    check and the erasure itself stay with staff). One open erasure request per
    contact: RequestError names the one already open. Commits."""
    if not contact.email or contact.erased_at is not None:
        raise RequestError("this contact has no address any more")
    already = db.session.scalar(
        sa.select(DataRequest.public_id).where(
            DataRequest.subject_id == contact.public_id,
            DataRequest.kind == RequestKind.ERASURE,
            DataRequest.status.in_(OPEN_REQUEST_STATUSES),
        )
    )
    if already is not None:
        raise RequestError(f"an erasure request for this contact is open already: {already}")
    return log_request(
        RequestKind.ERASURE, channel, contact.email, "", language or contact.language, actor, note
    )


def extend_deadline(request: DataRequest, months: int, reason: str, actor: StaffUser) -> None:
    """Art. 12(3): at most two more months, with a reason. Commits."""
    if not request.is_open:
        raise RequestError("the request is closed")
    if not 1 <= months <= MAX_EXTENSION_MONTHS or request.extension_reason:
        raise RequestError("a deadline can be extended once, by one or two months")
    if not reason.strip():
        raise RequestError("an extension needs a reason")
    request.due_at = add_months(request.due_at, months)
    request.extension_reason = reason.strip()
    audit.record(
        "request.extended",
        target_type="request",
        target_id=request.public_id,
        details={"months": months, "reason": reason.strip()},
        actor=actor,
    )
    db.session.commit()


def deny_request(request: DataRequest, reason: str, actor: StaffUser) -> None:
    """Refuse with reasons; the mail names the right to complain to the authority. Commits."""
    if not request.is_open:
        raise RequestError("the request is closed")
    if not reason.strip():
        raise RequestError("a denial needs its reasons")
    request.status = RequestStatus.DENIED
    request.denial_reason = reason.strip()
    request.completed_at = utcnow()
    audit.record(
        "request.denied",
        target_type="request",
        target_id=request.public_id,
        details={"reason": reason.strip()},
        actor=actor,
    )
    if request.email:
        queue_email(
            to=request.email,
            template="request_denied",
            language=request.language,
            subject=_l("Your request about your personal data"),
            context={"reason": reason.strip(), "authority": COMPLAINT_AUTHORITY},
        )
    db.session.commit()


def complete_request(request: DataRequest, outcome: str, actor: StaffUser) -> None:
    """Close a request staff handled by hand (a rectification beyond the preferences
    page), saying what was done. Commits."""
    if request.status not in (RequestStatus.VERIFIED, RequestStatus.IN_PROGRESS):
        raise RequestError("only a verified request in progress can be completed")
    if not outcome.strip():
        raise RequestError("say what was done")
    finish_request(request, outcome.strip(), actor)
    db.session.commit()


def cancel_request(request: DataRequest, actor: StaffUser) -> None:
    """Close a request that is withdrawn or a duplicate. Commits."""
    if not request.is_open:
        raise RequestError("the request is closed")
    request.status = RequestStatus.CANCELLED
    request.completed_at = utcnow()
    request.email = None
    audit.record(
        "request.cancelled", target_type="request", target_id=request.public_id, actor=actor
    )
    db.session.commit()


def request_contact(request: DataRequest) -> Contact | None:
    """The contact a request concerns, if it still exists with an address."""
    if request.subject_id:
        contact = find_contact_by_public_id(request.subject_id)
        if contact is not None and contact.email:
            return contact
    return find_contact(request.email) if request.email else None
