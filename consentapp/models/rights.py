"""Data-subject requests, disclosures to third parties, and the record of processing."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consentapp.models.base import Base, StrEnumType, new_public_id, utcnow


class RequestKind(enum.StrEnum):
    """What the person asks for (GDPR art. 15-21)."""

    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    OBJECTION = "objection"


class RequestStatus(enum.StrEnum):
    """Where a request stands."""

    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    DENIED = "denied"
    CANCELLED = "cancelled"


OPEN_REQUEST_STATUSES = (
    RequestStatus.UNVERIFIED,
    RequestStatus.VERIFIED,
    RequestStatus.IN_PROGRESS,
)


class DataRequest(Base):
    """A request by a person about their data, with its identity check and deadline.

    The address is kept only while the request is open; `address_hmac` (keyed with
    the secret) and `subject_id` (the contact's random id) remain as the record.
    """

    __tablename__ = "data_requests"
    __table_args__ = (sa.Index("ix_data_requests_open", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    kind: Mapped[RequestKind] = mapped_column(StrEnumType(RequestKind, 16))
    status: Mapped[RequestStatus] = mapped_column(
        StrEnumType(RequestStatus, 16), default=RequestStatus.UNVERIFIED
    )
    channel: Mapped[str] = mapped_column(sa.String(16))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    address_hmac: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    language: Mapped[str] = mapped_column(sa.String(8), default="nl")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime]
    extension_reason: Mapped[str | None] = mapped_column(sa.String(500))
    verified_at: Mapped[datetime | None]
    verification: Mapped[str | None] = mapped_column(sa.String(300))
    verified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    logged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    completed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(sa.String(1000))
    denial_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    note: Mapped[str | None] = mapped_column(sa.String(2000))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES

    def __repr__(self) -> str:
        return f"<DataRequest {self.public_id} {self.kind} {self.status}>"


class DisclosureKind(enum.StrEnum):
    """Who received data (P3, P4)."""

    PARTNER = "partner"
    AUTHORITY = "authority"
    DISPUTE_BODY = "dispute_body"


class Disclosure(Base):
    """A sharing of personal data with a partner or an authority, and why.

    Recording it states the fact; an admin's approval, given in that admin's own
    session, is the accountability (`approved_by_id` stays empty until then). The
    person sees it in their access copy unless an admin withheld it, with a reason.
    """

    __tablename__ = "disclosures"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DisclosureKind] = mapped_column(StrEnumType(DisclosureKind, 16))
    recipient: Mapped[str] = mapped_column(sa.String(300))
    legal_basis: Mapped[str] = mapped_column(sa.String(500))
    reference: Mapped[str] = mapped_column(sa.String(200), default="")
    data_categories: Mapped[list[str]] = mapped_column(sa.JSON)
    disclosed_on: Mapped[date]
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    approved_at: Mapped[datetime | None]
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    withhold_from_subject: Mapped[bool] = mapped_column(default=False)
    withheld_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    withhold_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    subjects: Mapped[list[DisclosureSubject]] = relationship(back_populates="disclosure")

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


class DisclosureSubject(Base):
    """One person whose data a disclosure concerned (kept pseudonymous after erasure)."""

    __tablename__ = "disclosure_subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(
        sa.ForeignKey("disclosures.id", ondelete="CASCADE"), index=True
    )
    subject_id: Mapped[str] = mapped_column(sa.String(32), index=True)

    disclosure: Mapped[Disclosure] = relationship(back_populates="subjects")


class FollowUpTask(Base):
    """Art. 19: tell a recipient of someone's data that it was erased or corrected."""

    __tablename__ = "follow_up_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    disclosure_id: Mapped[int] = mapped_column(sa.ForeignKey("disclosures.id"), index=True)
    subject_id: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    disclosure: Mapped[Disclosure] = relationship()


class ProcessingActivity(Base):
    """One entry of the record of processing activities (GDPR art. 30)."""

    __tablename__ = "processing_activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(200))
    purposes: Mapped[str] = mapped_column(sa.Text)
    legal_basis: Mapped[str] = mapped_column(sa.Text, default="")
    data_categories: Mapped[str] = mapped_column(sa.Text)
    subject_categories: Mapped[str] = mapped_column(sa.Text)
    recipients: Mapped[str] = mapped_column(sa.Text)
    transfers: Mapped[str] = mapped_column(sa.Text)
    retention: Mapped[str] = mapped_column(sa.Text)
    security: Mapped[str] = mapped_column(sa.Text)
    # Keys of `consentapp.services.processing_terms`, space-separated: the notice is
    # generated from these, so every language names the same bases and recipients.
    bases: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    recipient_kinds: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    outside_eea: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    FIELDS = (
        "name",
        "purposes",
        "legal_basis",
        "data_categories",
        "subject_categories",
        "recipients",
        "transfers",
        "retention",
        "security",
    )
    # The fields chosen from a fixed vocabulary (checkboxes), after the texts in exports.
    CHOSEN = ("bases", "recipient_kinds", "outside_eea")

    def as_dict(self) -> dict[str, Any]:
        """The entry's fields, for exports."""
        return {field: getattr(self, field) for field in self.FIELDS + self.CHOSEN}

    @property
    def basis_keys(self) -> list[str]:
        """The legal bases (art. 6) this activity relies on, as vocabulary keys."""
        return self.bases.split()

    @property
    def recipient_keys(self) -> list[str]:
        """The categories of recipients, as vocabulary keys."""
        return self.recipient_kinds.split()
