"""People who contacted the company, and the messages they sent."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consentapp.models.base import Base, StrEnumType, new_public_id, utcnow


class Contact(Base):
    """A person's contact details: exactly the fields the privacy notice names (P9)."""

    __tablename__ = "contacts"
    __table_args__ = (
        sa.Index("ix_contacts_name", "name", "id"),
        sa.Index("ix_contacts_company", "company", "id"),
        sa.Index("ix_contacts_created_at", "created_at", "id"),
    )

    # The details a person may edit themselves, and how long each may be: forms,
    # imports and the columns below all read these, so a limit changes in one place.
    DETAIL_FIELDS: ClassVar[tuple[str, ...]] = ("name", "company", "address", "phone", "fax")
    PHONE_FIELDS: ClassVar[tuple[str, ...]] = ("phone", "fax")
    EMAIL_LENGTH: ClassVar[int] = 254
    NAME_LENGTH: ClassVar[int] = 200
    ADDRESS_LENGTH: ClassVar[int] = 500
    PHONE_LENGTH: ClassVar[int] = 40
    DETAIL_LENGTHS: ClassVar[dict[str, int]] = {
        "name": NAME_LENGTH,
        "company": NAME_LENGTH,
        "address": ADDRESS_LENGTH,
        "phone": PHONE_LENGTH,
        "fax": PHONE_LENGTH,
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    # Empty only for a contact erased under a legal hold (its invoicing data kept).
    email: Mapped[str | None] = mapped_column(sa.String(EMAIL_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_LENGTH), default="")
    company: Mapped[str] = mapped_column(sa.String(NAME_LENGTH), default="")
    address: Mapped[str] = mapped_column(sa.String(ADDRESS_LENGTH), default="")
    phone: Mapped[str] = mapped_column(sa.String(PHONE_LENGTH), default="")
    fax: Mapped[str] = mapped_column(sa.String(PHONE_LENGTH), default="")
    language: Mapped[str] = mapped_column(sa.String(8), default="nl")
    # Name, e-mail address and company case-folded in Python (the databases' lower() leaves
    # accented capitals alone), kept up to date on every write; staff search this.
    search_text: Mapped[str] = mapped_column(sa.String(700), default="", server_default="")
    # A new address waiting for verification; it replaces `email` only when verified.
    pending_email: Mapped[str | None] = mapped_column(sa.String(EMAIL_LENGTH))
    pending_email_requested_at: Mapped[datetime | None]
    source_channel: Mapped[str] = mapped_column(sa.String(32))
    # Invoicing (P8): the last invoice date decides how long accounting law holds data.
    last_invoice_on: Mapped[date | None]
    legal_hold_until: Mapped[date | None]
    erased_at: Mapped[datetime | None]
    # Set when bounces or a complaint show the address does not take our mail: nothing
    # the company starts goes to it until the person shows the mailbox works again.
    undeliverable_at: Mapped[datetime | None]
    undeliverable_reason: Mapped[str | None] = mapped_column(sa.String(16))
    # Since when the person agrees to personal newsletter statistics (the ledger holds
    # the record); empty: only anonymous counts, no personal links, no pixel.
    statistics_since: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    inquiries: Mapped[list[Inquiry]] = relationship(
        back_populates="contact", order_by="Inquiry.created_at"
    )

    @property
    def mail_address(self) -> str:
        """The address to write to; an erased contact under legal hold has none."""
        if not self.email:
            raise LookupError("this contact was erased: there is no address to write to")
        return self.email

    def __repr__(self) -> str:
        return f"<Contact {self.public_id}>"


def search_key(*parts: str | None) -> str:
    """The text staff search in: case-folded, so É matches é."""
    return " ".join((part or "").casefold() for part in parts)[:700]


def _refresh_search_text(mapper: Any, connection: Any, target: Contact) -> None:
    target.search_text = search_key(target.name, target.email, target.company)


sa.event.listen(Contact, "before_insert", _refresh_search_text)
sa.event.listen(Contact, "before_update", _refresh_search_text)


class InquiryStatus(enum.StrEnum):
    """Where a contact-form message stands in the staff inbox."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Inquiry(Base):
    """A contact-form message with the details exactly as the visitor submitted them.

    The submitted details are kept here, never copied over an existing contact:
    anyone can type anyone's address, so staff review differences by hand.
    """

    __tablename__ = "inquiries"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id"), index=True)
    message: Mapped[str] = mapped_column(sa.Text)
    submitted: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[InquiryStatus] = mapped_column(
        StrEnumType(InquiryStatus, 16), default=InquiryStatus.NEW, index=True
    )
    assigned_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    language: Mapped[str] = mapped_column(sa.String(8))
    channel: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="inquiries")
    notes: Mapped[list[InquiryNote]] = relationship(
        back_populates="inquiry", order_by="InquiryNote.created_at"
    )

    def __repr__(self) -> str:
        return f"<Inquiry {self.public_id} {self.status}>"


class InquiryNote(Base):
    """An internal note by staff on an inquiry; never shown to the visitor."""

    __tablename__ = "inquiry_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("inquiries.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    inquiry: Mapped[Inquiry] = relationship(back_populates="notes")
