"""The disclosure register (P3, P4): each sharing with a partner or an authority."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    Contact,
    Disclosure,
    DisclosureKind,
    DisclosureSubject,
    FollowUpTask,
    StaffUser,
    utcnow,
)
from consentapp.services import audit
from consentapp.services.contact_details import InvalidDetail, normalise_email
from consentapp.services.contacts import find_contact
from consentapp.services.csv_cells import csv_line

DATA_CATEGORIES = ("name", "email", "company", "address", "phone", "fax", "messages")


class DisclosureError(ValueError):
    """A disclosure that cannot be recorded as given; `str()` says why."""


@dataclass(frozen=True)
class DisclosureInput:
    """What staff fill in for a disclosure."""

    kind: str
    recipient: str
    legal_basis: str
    reference: str
    categories: Sequence[str]
    addresses: Sequence[str]
    disclosed_on: date
    approved_by: StaffUser
    withhold_from_subject: bool = False


def record_disclosure(data: DisclosureInput, actor: StaffUser) -> tuple[Disclosure, list[str]]:
    """Record a disclosure; returns it and the addresses that matched no contact. Commits."""
    if data.kind not in {k.value for k in DisclosureKind}:
        raise DisclosureError("unknown kind")
    if not data.approved_by.is_admin or not data.approved_by.active:
        raise DisclosureError("a disclosure must be approved by an active admin")
    if not set(data.categories) <= set(DATA_CATEGORIES) or not data.categories:
        raise DisclosureError("choose the categories of data disclosed")
    contacts: list[Contact] = []
    unknown: list[str] = []
    for raw in data.addresses:
        try:
            contact = find_contact(normalise_email(raw))
        except InvalidDetail:
            contact = None
        if contact is None:
            unknown.append(raw)
        elif contact not in contacts:
            contacts.append(contact)
    if not contacts:
        raise DisclosureError("none of the addresses belongs to a contact")
    disclosure = Disclosure(
        kind=data.kind,
        recipient=data.recipient.strip(),
        legal_basis=data.legal_basis.strip(),
        reference=data.reference.strip(),
        data_categories=list(data.categories),
        disclosed_on=data.disclosed_on,
        approved_by_id=data.approved_by.id,
        recorded_by_id=actor.id,
        withhold_from_subject=data.withhold_from_subject,
    )
    db.session.add(disclosure)
    for contact in contacts:
        disclosure.subjects.append(DisclosureSubject(subject_id=contact.public_id))
    db.session.flush()
    audit.record(
        "disclosure.record",
        target_type="disclosure",
        target_id=str(disclosure.id),
        details={
            "kind": data.kind,
            "recipient": disclosure.recipient,
            "subjects": [c.public_id for c in contacts],
            "approved_by": data.approved_by.email,
        },
        actor=actor,
    )
    db.session.commit()
    return disclosure, unknown


def disclosures_about(subject_id: str) -> list[Disclosure]:
    """Disclosures that concerned one person, newest first."""
    return list(
        db.session.scalars(
            sa.select(Disclosure)
            .join(DisclosureSubject)
            .where(DisclosureSubject.subject_id == subject_id)
            .order_by(Disclosure.disclosed_on.desc())
        )
    )


def register_csv() -> Iterator[str]:
    """The whole register as CSV, one line per disclosure."""
    yield csv_line(
        [
            "id",
            "date",
            "kind",
            "recipient",
            "legal_basis",
            "reference",
            "data",
            "subjects",
            "approved_by",
        ]
    )
    approvers = {u.id: u.email for u in db.session.scalars(sa.select(StaffUser))}
    for item in db.session.scalars(
        sa.select(Disclosure).order_by(Disclosure.disclosed_on, Disclosure.id)
    ):
        yield csv_line(
            [
                item.id,
                item.disclosed_on.isoformat(),
                item.kind,
                item.recipient,
                item.legal_basis,
                item.reference,
                ";".join(item.data_categories),
                ";".join(s.subject_id for s in item.subjects),
                approvers.get(item.approved_by_id, ""),
            ]
        )


def open_follow_ups() -> list[FollowUpTask]:
    """Art. 19 tasks not yet done."""
    return list(
        db.session.scalars(
            sa.select(FollowUpTask).where(FollowUpTask.done_at.is_(None)).order_by(FollowUpTask.id)
        )
    )


def complete_follow_up(task: FollowUpTask, actor: StaffUser) -> None:
    """The recipient was told. Commits."""
    task.done_at = utcnow()
    task.done_by_id = actor.id
    audit.record(
        "disclosure.follow_up_done",
        target_type="disclosure",
        target_id=str(task.disclosure_id),
        details={"subject": task.subject_id, "reason": task.reason},
        actor=actor,
    )
    db.session.commit()
