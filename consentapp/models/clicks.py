"""Link clicks in newsletters, counted without watching anyone.

Each link of a campaign's edition (one per language) is a `CampaignLink`; the signed
redirect `/r/<token>` names only the link. A click adds one to the link's row for that
day in `LinkClickDay`: no person, no address, no cookie, no IP, no time finer than
the day. The same write raises the link's total (`CampaignLink.clicks`) and the
campaign's row for the day (`CampaignClickDay`), so the report reads a row per link
and a row per day however long the campaign has been clicked.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, utcnow


class CampaignLink(Base):
    """One link as written in one language of a campaign: where `/r/<token>` leads."""

    __tablename__ = "campaign_links"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "language", "url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(sa.String(8))
    # Order of first appearance in that language's text, for the report.
    position: Mapped[int]
    # The address exactly as the mail would have linked it: the redirect's target.
    url: Mapped[str] = mapped_column(sa.Text)
    # The sum of the link's `LinkClickDay` rows, raised in the same transaction.
    clicks: Mapped[int] = mapped_column(default=0, server_default="0")


class LinkClickDay(Base):
    """How often a link was followed on one day (in the site's time zone)."""

    __tablename__ = "link_click_days"

    link_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaign_links.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    clicks: Mapped[int] = mapped_column(default=0)


class CampaignClickDay(Base):
    """How often any link of a campaign was followed on one day: the sum of that day's
    `LinkClickDay` rows of its links, raised in the same transaction."""

    __tablename__ = "campaign_click_days"
    __table_args__ = {"sqlite_with_rowid": False}

    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    clicks: Mapped[int] = mapped_column(default=0)


class PersonalStatistic(Base):
    """A click (or an open) by someone who agreed to personal statistics. Written only
    while that consent holds; withdrawing it deletes every row of theirs."""

    __tablename__ = "personal_statistics"
    __table_args__ = (
        sa.Index("ix_personal_statistics_contact", "contact_id", "occurred_at"),
        # One open per reader and campaign, however often the pixel is fetched.
        sa.Index(
            "uq_personal_statistics_open",
            "contact_id",
            "campaign_id",
            unique=True,
            sqlite_where=sa.text("link_id IS NULL"),
            postgresql_where=sa.text("link_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    # Empty for an open (the pixel); the link for a click.
    link_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("campaign_links.id", ondelete="CASCADE")
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
