"""The copy of everything held about a person (GDPR art. 15 and 20): as data, as CSV,
and the one-hour link that opens it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.models import (
    Bounce,
    ConsentEvent,
    Contact,
    Disclosure,
    DisclosureSubject,
    OutboundEmail,
    ProcessingActivity,
    Repermission,
    RepermissionAsk,
    RepermissionStatus,
    Topic,
    utcnow,
)
from consentapp.services.campaign_insights import personal_records
from consentapp.services.contacts import find_contact_by_public_id
from consentapp.services.csv_cells import csv_line
from consentapp.services.rights import COMPLAINT_AUTHORITY
from consentapp.services.topics import subscriptions_of
from consentapp.tokens import Purpose, read_token, token_contact


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
    returned = db.session.scalars(
        sa.select(Bounce).where(Bounce.contact_id == contact.id).order_by(Bounce.occurred_at)
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
            for field in ("email", *Contact.DETAIL_FIELDS, "language")
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
        "asked_again": asked_again(contact),
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
        "mail_returned": {
            "undeliverable_since": contact.undeliverable_at.isoformat(timespec="seconds")
            if contact.undeliverable_at
            else None,
            "reason": contact.undeliverable_reason,
            "reports": [
                {
                    "at": b.occurred_at.isoformat(timespec="seconds"),
                    "type": b.kind,
                    "status": b.status,
                    "diagnostic": b.diagnostic,
                }
                for b in returned
            ],
        },
        "personal_statistics": {
            "agreed_since": contact.statistics_since.isoformat(timespec="seconds")
            if contact.statistics_since
            else None,
            "records": [
                {
                    "at": r.occurred_at.isoformat(timespec="seconds"),
                    "newsletter": r.campaign,
                    "clicked": r.url,
                    "opened": r.url is None,
                }
                for r in personal_records(contact, limit=None)
            ],
        },
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


def _moment(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def asked_again(contact: Contact) -> list[dict[str, Any]]:
    """Each time we asked the person whether they still want a newsletter (a
    re-permission round): when, which newsletter, the deadline, and where the question
    stands (`state`): `answered`, `lapsed`, `open` (they may still answer), `closed`
    (the round ended without an answer from them and without a lapse: closed by staff,
    or they had left the newsletter meanwhile) or `not_mailed` (the mail has not gone
    out yet). Their ledger rows are in `consent_ledger` as well."""
    rows = db.session.execute(
        sa.select(
            Repermission.created_at,
            Repermission.deadline_at,
            Repermission.status,
            Repermission.closed_at,
            Topic.slug,
            RepermissionAsk.mailed,
            RepermissionAsk.answered_at,
            RepermissionAsk.lapsed_at,
        )
        .join(RepermissionAsk.repermission)
        .join(RepermissionAsk.topic)
        .where(RepermissionAsk.contact_id == contact.id)
        .order_by(Repermission.created_at, Topic.slug)
    )
    now = utcnow()
    asked = []
    for created, deadline, status, closed, slug, mailed, answered, lapsed in rows:
        ended = status == RepermissionStatus.CLOSED or now >= deadline
        asked.append(
            {
                "asked_at": _moment(created),
                "topic": slug,
                "mailed": mailed,
                "answer_by": _moment(deadline),
                "answered_at": _moment(answered),
                "lapsed_at": _moment(lapsed),
                "round_closed_at": _moment(closed if closed else deadline if ended else None),
                "state": _ask_state(answered, lapsed, ended, mailed),
            }
        )
    return asked


def _ask_state(
    answered: datetime | None, lapsed: datetime | None, ended: bool, mailed: bool
) -> str:
    if answered is not None:
        return "answered"
    if lapsed is not None:
        return "lapsed"
    if ended:
        return "closed"
    return "open" if mailed else "not_mailed"


def export_csv(data: dict[str, Any]) -> Iterator[str]:
    """The export as CSV: section, item number, field, value. A value that holds more
    items gets a row each, its field named by its path ("reports.2.type"); a list of
    plain values is one cell, "; " between them."""
    yield csv_line(["section", "item", "field", "value"])
    for section, value in data.items():
        items = value if isinstance(value, list) else [value]
        for number, item in enumerate(items, start=1):
            for field, cell in _cells("", item):
                yield csv_line([section, number, field, cell])


def _cells(path: str, value: object) -> Iterator[tuple[str, object]]:
    """(field path, plain value) of everything inside `value`."""
    if isinstance(value, dict) and not value:
        yield path, ""
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _cells(f"{path}.{key}" if path else str(key), inner)
    elif isinstance(value, list) and any(isinstance(inner, dict | list) for inner in value):
        for number, inner in enumerate(value, start=1):
            yield from _cells(f"{path}.{number}", inner)
    elif isinstance(value, list):
        yield path, "; ".join("" if inner is None else str(inner) for inner in value)
    else:
        yield path, value


def read_export_link(raw: str) -> Contact:
    """The contact an export link is for (one hour; dies with the address)."""
    token = read_token(Purpose.EXPORT, raw)
    return token_contact(token, find_contact_by_public_id(token.public_id))
