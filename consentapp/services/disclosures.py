"""The disclosure register (P3, P4): each sharing with a partner or an authority."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

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
from consentapp.permissions import Permission, PermissionDenied, allows, require
from consentapp.services import audit
from consentapp.services.contact_details import InvalidDetail, normalise_email
from consentapp.services.contacts import find_contact
from consentapp.services.csv_cells import csv_line

# The contact's details and the messages, in the order the form has always listed them
# (name first): a disclosure stores the ticked ones in that order.
DATA_CATEGORIES = (Contact.DETAIL_FIELDS[0], "email", *Contact.DETAIL_FIELDS[1:], "messages")


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
    # Set only by an admin: a legal basis forbids telling the people concerned.
    withhold_reason: str = ""


def _match_addresses(addresses: Sequence[str]) -> tuple[list[Contact], list[str]]:
    """The contacts the addresses belong to (each once), and the addresses that match none."""
    contacts: list[Contact] = []
    unknown: list[str] = []
    for raw in addresses:
        try:
            contact = find_contact(normalise_email(raw))
        except InvalidDetail:
            contact = None
        if contact is None:
            unknown.append(raw)
        elif contact not in contacts:
            contacts.append(contact)
    return contacts, unknown


def record_disclosure(data: DisclosureInput, actor: StaffUser) -> tuple[Disclosure, list[str]]:
    """Record a disclosure; returns it and the addresses that matched no contact. Commits.

    Recorded by an admin, it is approved by that admin at once; recorded by staff, it
    waits for an admin's approval. Either way it is in the person's access copy unless
    an admin withholds it (here or later), with a reason.
    """
    if data.kind not in set(DisclosureKind):
        raise DisclosureError("unknown kind")
    withhold_reason = data.withhold_reason.strip()
    if withhold_reason and not allows(actor, Permission.DISCLOSURE_WITHHOLD):
        raise DisclosureError("only an admin can withhold a disclosure from the person")
    if not set(data.categories) <= set(DATA_CATEGORIES) or not data.categories:
        raise DisclosureError("choose the categories of data disclosed")
    contacts, unknown = _match_addresses(data.addresses)
    if not contacts:
        raise DisclosureError("none of the addresses belongs to a contact")
    approved = allows(actor, Permission.DISCLOSURE_APPROVE)
    disclosure = Disclosure(
        kind=data.kind,
        recipient=data.recipient.strip(),
        legal_basis=data.legal_basis.strip(),
        reference=data.reference.strip(),
        data_categories=list(data.categories),
        disclosed_on=data.disclosed_on,
        approved_by_id=actor.id if approved else None,
        approved_at=utcnow() if approved else None,
        recorded_by_id=actor.id,
        withhold_from_subject=bool(withhold_reason),
        withheld_by_id=actor.id if withhold_reason else None,
        withhold_reason=withhold_reason or None,
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
            "approved_by": actor.email if approved else None,
            "withheld": bool(withhold_reason),
        },
        actor=actor,
    )
    if withhold_reason:
        _audit_decision(
            "disclosure.withhold", disclosure, actor, {"reason": disclosure.withhold_reason}
        )
    db.session.commit()
    return disclosure, unknown


def approve_disclosure(disclosure: Disclosure, admin: StaffUser) -> None:
    """The admin acting now takes responsibility for the disclosure. Commits."""
    try:
        require(admin, Permission.DISCLOSURE_APPROVE)
    except PermissionDenied:
        raise DisclosureError("only an admin can approve a disclosure") from None
    if disclosure.is_approved:
        raise DisclosureError("the disclosure is approved already")
    disclosure.approved_by_id = admin.id
    disclosure.approved_at = utcnow()
    _audit_decision(
        "disclosure.approve", disclosure, admin, {"recorded_by": disclosure.recorded_by_id}
    )
    db.session.commit()


def withhold_disclosure(disclosure: Disclosure, reason: str, admin: StaffUser) -> None:
    """Keep the disclosure out of the people's access copy, for a stated reason. Commits."""
    try:
        require(admin, Permission.DISCLOSURE_WITHHOLD)
    except PermissionDenied:
        raise DisclosureError("only an admin can withhold a disclosure from the person") from None
    if not reason.strip():
        raise DisclosureError("say which legal basis forbids telling the person")
    disclosure.withhold_from_subject = True
    disclosure.withheld_by_id = admin.id
    disclosure.withhold_reason = reason.strip()
    _audit_decision(
        "disclosure.withhold", disclosure, admin, {"reason": disclosure.withhold_reason}
    )
    db.session.commit()


def release_disclosure(disclosure: Disclosure, admin: StaffUser) -> None:
    """The reason to withhold is gone: the disclosure is in the access copy again. Commits."""
    try:
        require(admin, Permission.DISCLOSURE_WITHHOLD)
    except PermissionDenied:
        raise DisclosureError("only an admin can change what the person is told") from None
    if not disclosure.withhold_from_subject:
        raise DisclosureError("the disclosure is not withheld")
    disclosure.withhold_from_subject = False
    disclosure.withheld_by_id = admin.id
    disclosure.withhold_reason = None
    _audit_decision("disclosure.release", disclosure, admin)
    db.session.commit()


def _audit_decision(
    action: str, disclosure: Disclosure, admin: StaffUser, details: dict[str, Any] | None = None
) -> None:
    """The audit entry of an admin's decision on a disclosure (approve, withhold, release)."""
    audit.record(
        action,
        target_type="disclosure",
        target_id=str(disclosure.id),
        details=details,
        actor=admin,
    )


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
            "approved_at",
            "recorded_by",
            "withheld_from_subject",
            "withhold_reason",
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
                approvers.get(item.approved_by_id, "") if item.approved_by_id else "",
                item.approved_at.isoformat(timespec="seconds") if item.approved_at else "",
                approvers.get(item.recorded_by_id, ""),
                "yes" if item.withhold_from_subject else "no",
                item.withhold_reason or "",
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
