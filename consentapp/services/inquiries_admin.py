"""The staff inbox of contact-form messages: status, assignment, notes, applying details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import Contact, Inquiry, InquiryNote, InquiryStatus, StaffUser
from consentapp.services import audit
from consentapp.services.contact_details import InvalidDetail, normalise_phone
from consentapp.services.contacts_admin import rectify_by_staff


@dataclass(frozen=True)
class FieldDifference:
    """A detail as submitted that differs from the stored contact."""

    field: str
    stored: str
    submitted: str


def list_inquiries(
    status: str = "", assigned_to: int | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Inquiry], bool]:
    """Newest first; returns the page and whether there is a next one."""
    statement = sa.select(Inquiry)
    if status == "open":
        statement = statement.where(Inquiry.status != InquiryStatus.DONE)
    elif status:
        statement = statement.where(Inquiry.status == status)
    if assigned_to is not None:
        statement = statement.where(Inquiry.assigned_to_id == assigned_to)
    page = max(page, 1)
    rows = list(
        db.session.scalars(
            statement.order_by(Inquiry.created_at.desc(), Inquiry.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return rows[:per_page], len(rows) > per_page


def status_counts(assigned_to: int | None = None) -> dict[str, int]:
    """How many inquiries each filter shows ("open" is everything not done yet)."""
    statement = sa.select(Inquiry.status, sa.func.count()).group_by(Inquiry.status)
    if assigned_to is not None:
        statement = statement.where(Inquiry.assigned_to_id == assigned_to)
    counts = {str(status): int(count) for status, count in db.session.execute(statement).all()}
    found = {status.value: counts.get(status.value, 0) for status in InquiryStatus}
    found["open"] = sum(n for status, n in found.items() if status != InquiryStatus.DONE)
    return found


def open_inquiry(public_id: str, actor: StaffUser) -> Inquiry | None:
    """Load an inquiry and log the view. Commits the audit entry."""
    inquiry = db.session.scalar(sa.select(Inquiry).where(Inquiry.public_id == public_id))
    if inquiry is None:
        return None
    audit.record("inquiry.view", target_type="inquiry", target_id=public_id, actor=actor)
    db.session.commit()
    return inquiry


def _comparable(field: str, value: str) -> str:
    if field in Contact.PHONE_FIELDS:
        try:
            return normalise_phone(value)
        except InvalidDetail:
            return value.strip()
    return value.strip()


def differences(inquiry: Inquiry) -> list[FieldDifference]:
    """Submitted details that differ from what the contact has (empty ones are ignored)."""
    found = []
    for field in Contact.DETAIL_FIELDS:
        submitted = _comparable(field, str(inquiry.submitted.get(field) or ""))
        stored = str(getattr(inquiry.contact, field) or "")
        if submitted and submitted != stored:
            found.append(FieldDifference(field, stored, submitted))
    return found


def apply_differences(
    inquiry: Inquiry, fields: Sequence[str], reason: str, actor: StaffUser
) -> list[str]:
    """Copy chosen submitted details onto the contact, as a rectification. Commits."""
    chosen = {d.field: d.submitted for d in differences(inquiry) if d.field in fields}
    if not chosen:
        return []
    return rectify_by_staff(
        inquiry.contact, chosen, f"{reason} (from inquiry {inquiry.public_id})", actor
    )


def update_inquiry(
    inquiry: Inquiry, status: str, assigned_to: StaffUser | None, actor: StaffUser
) -> None:
    """Change status and assignment (audited). Commits."""
    if status not in set(InquiryStatus):
        raise ValueError(f"unknown status {status!r}")
    changes: dict[str, list[object]] = {}
    if inquiry.status != status:
        changes["status"] = [inquiry.status, status]
        inquiry.status = InquiryStatus(status)
    new_assignee = assigned_to.id if assigned_to else None
    if inquiry.assigned_to_id != new_assignee:
        changes["assigned_to"] = [inquiry.assigned_to_id, new_assignee]
        inquiry.assigned_to_id = new_assignee
    if changes:
        audit.record(
            "inquiry.update",
            target_type="inquiry",
            target_id=inquiry.public_id,
            details=changes,
            actor=actor,
        )
        db.session.commit()


def add_note(inquiry: Inquiry, text: str, actor: StaffUser) -> InquiryNote:
    """An internal note (audited, without its text). Commits."""
    note = InquiryNote(inquiry=inquiry, author_id=actor.id, text=text.strip())
    db.session.add(note)
    audit.record("inquiry.note", target_type="inquiry", target_id=inquiry.public_id, actor=actor)
    db.session.commit()
    return note
