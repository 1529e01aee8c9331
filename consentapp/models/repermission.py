"""Re-permission: asking confirmed subscribers whether they still want a newsletter.

A `Repermission` is one such round: who it asks (confirmed more than `months` ago,
or never confirmed under notice version `notice_version` or later), by when they may
answer, and whether those who did not answer were set to lapse. Each
`RepermissionAsk` is one person's question about one topic.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consentapp.models.base import Base, StrEnumType, new_public_id, utcnow
from consentapp.models.contact import Contact
from consentapp.models.topics import Topic


class RepermissionRule(enum.StrEnum):
    """Who a round asks."""

    CONFIRMED_BEFORE = "confirmed_before"  # confirmed more than `months` ago
    NOTICE_BEFORE = "notice_before"  # never confirmed under `notice_version` or later


class RepermissionStatus(enum.StrEnum):
    SENDING = "sending"  # its mails are being queued
    OPEN = "open"  # every mail queued; answers are welcome until the deadline
    CLOSED = "closed"  # those who did not answer were set to lapse (or it was closed)


class Repermission(Base):
    """One round of "do you still want this?" mails."""

    __tablename__ = "repermissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    rule: Mapped[RepermissionRule] = mapped_column(StrEnumType(RepermissionRule, 32))
    months: Mapped[int | None]
    notice_version: Mapped[int | None]
    # The topics asked about, by slug (every topic when empty).
    topics: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    deadline_at: Mapped[datetime]
    status: Mapped[RepermissionStatus] = mapped_column(
        StrEnumType(RepermissionStatus, 16), default=RepermissionStatus.SENDING
    )
    people: Mapped[int] = mapped_column(default=0)
    lapsed: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))

    def __repr__(self) -> str:
        return f"<Repermission {self.public_id} {self.status}>"


class RepermissionAsk(Base):
    """One person asked about one topic: mailed, answered (a fresh confirmation), or
    lapsed once the round closed without an answer."""

    __tablename__ = "repermission_asks"
    __table_args__ = (
        sa.UniqueConstraint(
            "repermission_id", "contact_id", "topic_id", name="uq_repermission_asks_person_topic"
        ),
        sa.Index("ix_repermission_asks_mailing", "repermission_id", "mailed", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repermission_id: Mapped[int] = mapped_column(
        sa.ForeignKey("repermissions.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(sa.ForeignKey("topics.id"))
    mailed: Mapped[bool] = mapped_column(default=False)
    answered_at: Mapped[datetime | None]
    lapsed_at: Mapped[datetime | None]

    repermission: Mapped[Repermission] = relationship()
    contact: Mapped[Contact] = relationship()
    topic: Mapped[Topic] = relationship()
