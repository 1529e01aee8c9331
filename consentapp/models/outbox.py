"""The outbox: every mail is a row first, delivered by the worker after commit."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, StrEnumType, utcnow


class OutboundStatus(enum.StrEnum):
    """A mail's delivery state."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OutboundEmail(Base):
    """A mail waiting for, or done with, delivery.

    A mail that needs consent (`requires_subscription`) is sent only if, just
    before sending, the contact still has a confirmed subscription: to one of
    `reached_topics` (a campaign mail: the topics that reached the person, which its
    one-click link leaves), else to `topic_id`, or to any topic when both are empty.
    Otherwise it is cancelled.

    The worker claims due rows with a lease: if it dies mid-send, the lease runs out
    and another pass takes the row again. `message_id` is fixed when the row is
    created, so a retried mail keeps its Message-ID.
    """

    __tablename__ = "outbound_emails"
    __table_args__ = (
        sa.Index("ix_outbound_emails_due", "status", "next_attempt_at"),
        sa.Index("ix_outbound_emails_campaign", "campaign_id", "status"),
        # Whether a campaign has queued a mail for someone already.
        sa.Index("ix_outbound_emails_campaign_contact", "campaign_id", "contact_id"),
        sa.Index("ix_outbound_emails_sent", "status", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(64))
    contact_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    requires_subscription: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    topic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("topics.id"))
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    # Topic ids; empty on campaign mails queued before it was kept (migration 0022).
    reached_topics: Mapped[list[int] | None] = mapped_column(sa.JSON)
    # The last mail to an erased person: removed as soon as the server accepted it.
    delete_after_send: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    to_address: Mapped[str] = mapped_column(sa.String(254), index=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str] = mapped_column(sa.Text)
    headers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    status: Mapped[OutboundStatus] = mapped_column(
        StrEnumType(OutboundStatus, 16), default=OutboundStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(1000))
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    sent_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<OutboundEmail {self.id} {self.kind} {self.status}>"
