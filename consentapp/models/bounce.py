"""What comes back: bounces and complaints per contact, and the queue of reports
waiting to be read."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, StrEnumType, utcnow


class BounceType(enum.StrEnum):
    """Hard: the address does not work. Soft: it did not work this time. Complaint: the
    person marked a mail as spam."""

    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


class Bounce(Base):
    """One bounce or complaint for a contact; removed with the contact at erasure.

    `report_key` names the report and the recipient it was about, so the same report
    read twice (a DSN delivered to the server and found in the mailbox, a webhook sent
    again) counts once. `counts` is cleared when the contact's undeliverable mark is
    lifted: the history stays, the thresholds start again.
    """

    __tablename__ = "bounces"
    __table_args__ = (
        sa.Index("ix_bounces_contact", "contact_id", "occurred_at"),
        sa.Index("ix_bounces_occurred", "occurred_at", "id"),
        sa.Index("ix_bounces_campaign", "campaign_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[BounceType] = mapped_column(StrEnumType(BounceType, 16))
    source: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str | None] = mapped_column(sa.String(16))
    diagnostic: Mapped[str | None] = mapped_column(sa.String(1000))
    campaign_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    # The outbox row the report was about (outbox rows are removed in time, so no key).
    outbox_id: Mapped[int | None]
    report_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    counts: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    def __repr__(self) -> str:
        return f"<Bounce {self.id} {self.kind} contact={self.contact_id}>"


class IncomingReport(Base):
    """A report received and not yet read: a mail (bounce server, mailbox) or a verified
    provider payload. Receiving only stores it, so a burst is answered at once; reading
    it removes the row in the same transaction as its effects."""

    __tablename__ = "incoming_reports"
    __table_args__ = (sa.Index("ix_incoming_reports_due", "next_attempt_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)
    recipients: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<IncomingReport {self.id} {self.source}>"
