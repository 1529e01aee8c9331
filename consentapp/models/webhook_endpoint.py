"""Outgoing webhooks: the endpoints admins register and the deliveries queued for them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, StrEnumType, new_public_id, utcnow


class WebhookStatus(enum.StrEnum):
    """A delivery's state."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookEndpoint(Base):
    """A URL that receives the events it names, signed with its own secret.

    `failing_since` is the time of the first failure since the last success; three
    days of failures set `disabled_at` and `active` to false.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    url: Mapped[str] = mapped_column(sa.String(2000))
    events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    secret: Mapped[str] = mapped_column(sa.String(100))
    include_personal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    disabled_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.public_id} {self.url}>"


class WebhookDelivery(Base):
    """One event for one endpoint, written in the transaction of the change it reports.

    `payload` holds ids, the event, the topic and the time, never personal fields:
    those are added when sending, for endpoints that include them, from the contact as
    it is then (so an erased person's details are never sent). `public_id` is the
    `webhook-id`: a retry or a "send again" keeps it, so receivers can drop repeats.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(40), unique=True)
    endpoint_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(sa.String(64))
    subject_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[WebhookStatus] = mapped_column(
        StrEnumType(WebhookStatus, 16), default=WebhookStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(sa.String(200))
    delivered_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<WebhookDelivery {self.public_id} {self.event} {self.status}>"
