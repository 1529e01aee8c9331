"""Newsletter campaigns: the confirmed subscribers of one topic or several (each person
once), each in their own language."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consentapp.models.base import Base, StrEnumType, new_public_id, utcnow
from consentapp.models.topics import Topic

# The topics whose confirmed subscribers a campaign goes to, its main one (`topic_id`)
# among them: the union, each person once.
campaign_topics = sa.Table(
    "campaign_topics",
    Base.metadata,
    sa.Column("campaign_id", sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topic_id", sa.ForeignKey("topics.id"), primary_key=True),
)


class CampaignStatus(enum.StrEnum):
    """A campaign's life: drafted (submitted for approval), scheduled, sending (may pause),
    then sent or cancelled."""

    DRAFT = "draft"
    SUBMITTED = "submitted"  # written by staff, waiting for an admin's approval
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    SENT = "sent"
    CANCELLED = "cancelled"


class Campaign(Base):
    """A newsletter in Dutch and English (Markdown), for the subscribers of its topics,
    optionally only those of one language, or only customers.

    Recipients are queued into the outbox in batches by contact id (`queue_cursor`),
    never all at once; `queued_all` marks the end of queueing.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True, default=new_public_id)
    topic_id: Mapped[int] = mapped_column(sa.ForeignKey("topics.id"))
    subject_nl: Mapped[str] = mapped_column(sa.String(200))
    body_nl: Mapped[str] = mapped_column(sa.Text)
    subject_en: Mapped[str] = mapped_column(sa.String(200))
    body_en: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[CampaignStatus] = mapped_column(
        StrEnumType(CampaignStatus, 16), default=CampaignStatus.DRAFT
    )
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    queue_cursor: Mapped[int] = mapped_column(default=0)
    queued_all: Mapped[bool] = mapped_column(default=False)
    recipients: Mapped[int] = mapped_column(default=0)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    pause_reason: Mapped[str | None] = mapped_column(sa.String(500))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # The admin who sent or scheduled it; empty when an operator did (send-campaign).
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # An open pixel in the mails of those who agreed to personal statistics (no one else).
    open_pixel: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Published in the public archive (/archive) once sent: staff opt in per campaign.
    in_archive: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Only subscribers who read this language (empty: every language).
    audience_language: Mapped[str | None] = mapped_column(sa.String(8))
    # Only customers: contacts with an invoice or who came through an agreement.
    customers_only: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    # The main topic: the mail's List-Id and the name it goes out under.
    topic: Mapped[Topic] = relationship()
    # Every topic of the audience, the main one among them.
    topics: Mapped[list[Topic]] = relationship(
        secondary=campaign_topics, order_by=Topic.id, lazy="selectin"
    )

    @property
    def all_topics(self) -> list[Topic]:
        """The audience's topics, the main one first (it alone before any is stored)."""
        return [self.topic, *(t for t in self.topics if t.id != self.topic_id)]

    @property
    def topic_ids(self) -> list[int]:
        return [topic.id for topic in self.all_topics]

    def subject(self, language: str) -> str:
        """The subject in `language` (Dutch when there is no English one)."""
        return self.subject_en if language == "en" and self.subject_en.strip() else self.subject_nl

    def body(self, language: str) -> str:
        """The Markdown body in `language` (Dutch when there is no English one)."""
        return self.body_en if language == "en" and self.body_en.strip() else self.body_nl

    @property
    def revision(self) -> str:
        """A short fingerprint of what would be sent: an approval carries the one of the
        text the admin read, so a text changed meanwhile is not approved unread."""
        parts = [str(self.topic_id), self.subject_nl, self.body_nl, self.subject_en, self.body_en]
        more = sorted(topic.id for topic in self.topics if topic.id != self.topic_id)
        if more or self.audience_language or self.customers_only:
            # Only a wider or narrower audience adds to it: older fingerprints hold.
            audience = (more, self.audience_language, self.customers_only)
            parts.append(repr(audience))
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]

    @property
    def english_missing(self) -> dict[str, bool]:
        """Which English parts are empty, so English subscribers get the Dutch ones."""
        return {"subject": not self.subject_en.strip(), "text": not self.body_en.strip()}

    def __repr__(self) -> str:
        return f"<Campaign {self.public_id} {self.status}>"
