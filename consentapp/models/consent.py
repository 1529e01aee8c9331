"""The privacy notice versions and the append-only consent ledger."""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consentapp.models.base import Base, StrEnumType, utcnow


def text_sha256(text: str) -> str:
    """The fingerprint of a notice text: SHA-256 of its UTF-8 bytes, in hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PrivacyNotice(Base):
    """One published version of the privacy notice in one language; never edited."""

    __tablename__ = "privacy_notices"
    __table_args__ = (
        sa.UniqueConstraint("version", "language", name="uq_privacy_notices_version_language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int]
    language: Mapped[str] = mapped_column(sa.String(8))
    title: Mapped[str] = mapped_column(sa.String(200))
    text: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Published as changing what data serve: subscribers should be asked again.
    purposes_changed: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    def __repr__(self) -> str:
        return f"<PrivacyNotice v{self.version} {self.language}>"


class ConsentAction(enum.StrEnum):
    """What happened to a person's consent."""

    GIVEN = "given"
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    RECTIFIED = "rectified"
    EXPIRED = "expired"


class ConsentChannel(enum.StrEnum):
    """How the consent or data reached the company (P1)."""

    WEB_FORM = "web_form"
    ONE_CLICK = "one_click"
    AGREEMENT = "agreement"
    EMAIL = "email"
    PHONE = "phone"
    IMPORT = "import"
    STAFF = "staff"
    COMPLAINT = "complaint"
    API = "api"  # another system of the company, through the REST API with a token
    REPERMISSION = "repermission"  # the person's answer to "do you still want this?"
    LAPSED = "lapsed"  # no answer to that question by its deadline: stopped, by an admin


class ConsentPurpose(enum.StrEnum):
    """Why the data is processed."""

    CONTACT = "contact"
    NEWSLETTER = "newsletter"
    # Opt-in to personal newsletter statistics: one's own clicks (and opens, where
    # staff switch the pixel on) recorded; never pre-ticked, withdrawn at any time.
    STATISTICS = "statistics"


class ConsentEvent(Base):
    """An append-only record of a consent given, confirmed or withdrawn.

    `subject_id` is the contact's random public id, not a foreign key: the row
    survives the contact's erasure as a pseudonymous record. The notice version and
    the SHA-256 of its exact text are copied in so the row proves what was shown.
    Updates and deletes are refused by the ORM and by database triggers.
    """

    __tablename__ = "consent_events"
    __table_args__ = (
        sa.Index("ix_consent_events_subject", "subject_id", "occurred_at"),
        sa.Index("ix_consent_events_action", "purpose", "action", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    subject_id: Mapped[str] = mapped_column(sa.String(32))
    purpose: Mapped[ConsentPurpose] = mapped_column(StrEnumType(ConsentPurpose, 32))
    topic_id: Mapped[int | None] = mapped_column(sa.ForeignKey("topics.id"))
    action: Mapped[ConsentAction] = mapped_column(StrEnumType(ConsentAction, 16))
    channel: Mapped[ConsentChannel] = mapped_column(StrEnumType(ConsentChannel, 16))
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("privacy_notices.id"))
    notice_version: Mapped[int | None]
    notice_language: Mapped[str | None] = mapped_column(sa.String(8))
    notice_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))
    evidence: Mapped[str | None] = mapped_column(sa.String(500))
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    notice: Mapped[PrivacyNotice | None] = relationship()

    def __repr__(self) -> str:
        return f"<ConsentEvent {self.id} {self.purpose} {self.action}>"


class ImmutableRowError(RuntimeError):
    """An attempt to change or delete a ledger row or a published notice."""


def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise ImmutableRowError(f"{type(target).__name__} rows are append-only")


for _model in (ConsentEvent, PrivacyNotice):
    sa.event.listen(_model, "before_update", _refuse_change)
    sa.event.listen(_model, "before_delete", _refuse_change)
