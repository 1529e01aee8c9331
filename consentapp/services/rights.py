"""Data-subject requests on the person's side: received, identity checked, carried out
within the deadline (P11-P13, GDPR art. 12, 15-21). The staff side is in rights_admin,
the export in rights_export."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.keyring import address_hmac
from consentapp.links import external_url, preferences_url
from consentapp.mail.outbox import queue_email
from consentapp.models import (
    ConsentChannel,
    Contact,
    DataRequest,
    RequestKind,
    RequestStatus,
    StaffUser,
    utcnow,
)
from consentapp.services import audit
from consentapp.services.contacts import find_contact, find_contact_by_public_id
from consentapp.services.erasure import ErasureResult, erase_person
from consentapp.services.outgoing_webhooks import emit
from consentapp.services.subscriptions import withdraw
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
    emit(
        "data_request.received",
        subject_id=request.subject_id,
        data={"request": request.public_id, "kind": kind, "channel": channel},
    )
    return request


def submit_request(email: str, kind: str, language: str) -> None:
    """A request from the public form: nothing is shown or changed before the identity
    check. Known address: a verification link. Unknown: a mail saying we hold nothing.
    Same page either way. Commits."""
    if kind not in set(RequestKind):
        raise RequestError(f"unknown request kind {kind!r}")
    contact = find_contact(email)
    request = open_request(kind, "web", email, language, contact)
    audit.record("request.received", target_type="request", target_id=request.public_id)
    allowed = may_mail(email, REQUEST_MAIL_KINDS)
    if contact is None:
        request.status = RequestStatus.DONE
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
    request.status = RequestStatus.VERIFIED
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
    if request.status != RequestStatus.VERIFIED:
        raise RequestError("only a verified request can be carried out")
    email = contact.mail_address
    language = request.language
    result = Outcome(request=request)
    if request.kind == RequestKind.ACCESS:
        result = Outcome(
            request, export_token=make_token(Purpose.EXPORT, contact, r=request.public_id)
        )
        finish_request(request, "export provided", actor)
        _mail_outcome(email, language, request, contact)
    elif request.kind == RequestKind.OBJECTION:
        channel = ConsentChannel.STAFF if actor else ConsentChannel.WEB_FORM
        withdraw(contact, None, channel.value, None, language)
        suppress(email, "objection")
        finish_request(
            request, "all newsletters stopped; address suppressed for direct marketing", actor
        )
        _mail_outcome(email, language, request, contact)
    elif request.kind == RequestKind.ERASURE:
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
        request.status = RequestStatus.IN_PROGRESS
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
    request.status = RequestStatus.DONE
    request.completed_at = utcnow()
    request.outcome = outcome
    emit(
        "data_request.completed",
        subject_id=request.subject_id,
        data={"request": request.public_id, "kind": str(request.kind)},
    )
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


UNVERIFIED_DAYS = 14


def expire_unverified(now: datetime | None = None) -> int:
    """Requests whose identity link was never used are closed after two weeks, and
    the address they carried is dropped. Returns how many. Commits."""
    cutoff = (now or utcnow()) - timedelta(days=UNVERIFIED_DAYS)
    stale = list(
        db.session.scalars(
            sa.select(DataRequest).where(
                DataRequest.status == RequestStatus.UNVERIFIED,
                DataRequest.channel == "web",
                DataRequest.received_at < cutoff,
            )
        )
    )
    for request in stale:
        request.status = RequestStatus.CANCELLED
        request.completed_at = utcnow()
        request.outcome = "identity never confirmed"
        request.email = None
        audit.record("request.expired", target_type="request", target_id=request.public_id)
    db.session.commit()
    return len(stale)
