"""Newsletter topics and each contact's subscription to them."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consentapp.models.base import Base, StrEnumType, utcnow
from consentapp.models.contact import Contact


class TopicWording:
    """A topic's name and description picked by language, for the model and for the
    read-only copies pages show (`services.reference.TopicRef`)."""

    label_nl: str
    label_en: str
    description_nl: str
    description_en: str

    def label(self, language: str) -> str:
        """The topic's name in `language` (Dutch when there is no such translation)."""
        return self.label_en if language == "en" else self.label_nl

    def description(self, language: str) -> str:
        """One sentence on what the topic's mails are about, in `language`."""
        return self.description_en if language == "en" else self.description_nl


class Topic(TopicWording, Base):
    """A newsletter a person can opt in to: product updates, service news, company news."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label_nl: Mapped[str] = mapped_column(sa.String(120))
    label_en: Mapped[str] = mapped_column(sa.String(120))
    description_nl: Mapped[str] = mapped_column(sa.String(500), default="")
    description_en: Mapped[str] = mapped_column(sa.String(500), default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def __repr__(self) -> str:
        return f"<Topic {self.slug}>"


class SubscriptionStatus(enum.StrEnum):
    """Pending until the double opt-in link is used; unsubscribed after withdrawal."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"


class Subscription(Base):
    """One contact's consent state for one topic; the ledger holds its history."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        sa.UniqueConstraint("contact_id", "topic_id", name="uq_subscriptions_contact_topic"),
        sa.Index("ix_subscriptions_topic_status", "topic_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    topic_id: Mapped[int] = mapped_column(sa.ForeignKey("topics.id"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        StrEnumType(SubscriptionStatus, 16), default=SubscriptionStatus.PENDING
    )
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship()
    topic: Mapped[Topic] = relationship()

    def __repr__(self) -> str:
        return f"<Subscription {self.contact_id}:{self.topic_id} {self.status}>"
