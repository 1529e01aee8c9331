"""Answers to the question asked after unsubscribing, kept as counts only.

Nothing here can be matched to the person who answered or to their withdrawal in
the ledger: no contact, address, token or client address; no time finer than the
month (and none at all for a campaign's answers, the campaign is the grain); no row
id, and on SQLite no hidden rowid either (`WITHOUT ROWID`), so neither the order nor
the moment of an answer is kept.
"""

from __future__ import annotations

import enum
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base


class FeedbackAnswer(enum.StrEnum):
    """The fixed answers (no free text: it could carry personal data)."""

    TOO_MANY = "too_many"
    NOT_RELEVANT = "not_relevant"
    NEVER_ASKED = "never_asked"
    OTHER = "other"


class FeedbackCount(Base):
    """How often an answer was given: per campaign (`campaign` its public id), or per
    month (`period` "YYYY-MM") for unsubscribes that came through no campaign's link.

    `flagged` is how many of a "never asked for it" count admins were alerted to
    already (the audit log), so each answer is reported once.
    """

    __tablename__ = "unsubscribe_feedback"
    __table_args__ = {"sqlite_with_rowid": False}

    campaign: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    answer: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    period: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    flagged: Mapped[int] = mapped_column(default=0)


class FeedbackNonce(Base):
    """A survey form already answered: the hash of its random nonce, kept until the
    day the form expires (a date, not a time), so a form counts once."""

    __tablename__ = "unsubscribe_feedback_nonces"
    __table_args__ = {"sqlite_with_rowid": False}

    nonce_sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_on: Mapped[date]
