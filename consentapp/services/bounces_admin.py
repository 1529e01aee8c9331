"""What staff see of bounces and complaints: the list with its filters, a contact's
history, and the counts and rates of a campaign and of the last 30 days.

A rate is bounces of a kind over the mails that reached the recipient's server:
those sent, plus those the server refused while we were sending (each of those is a
bounce too, so a campaign whose every mail was refused has a hard rate of 100 %).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from consentapp.extensions import db
from consentapp.models import (
    Bounce,
    BounceType,
    Campaign,
    Contact,
    OutboundEmail,
    OutboundStatus,
    utcnow,
)
from consentapp.services.bounces import REFUSAL

PER_PAGE = 50
RECENT_DAYS = 30
# How many campaigns the filter offers, newest first.
CAMPAIGN_CHOICES = 200
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BadFilter(ValueError):
    """A filter value that means nothing; `str()` says which and why, for the reader."""


@dataclass(frozen=True)
class BounceFilters:
    """What the bounces list is narrowed to; empty values leave it open."""

    kind: BounceType | None = None
    campaign: Campaign | None = None
    since: date | None = None
    until: date | None = None


def _day(raw: str, what: str) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    # The far ends of the calendar are no filter anyone means (and the day after
    # 9999-12-31 does not exist).
    if day is None or not 1900 <= day.year <= 9000:
        raise BadFilter(_("%(what)s is not a date (use YYYY-MM-DD).", what=what))
    return day


def read_filters(args: Mapping[str, str]) -> BounceFilters:
    """The filters from a query string; BadFilter for a value that names nothing."""
    kind_raw = args.get("type", "").strip()
    if kind_raw and kind_raw not in set(BounceType):
        raise BadFilter(_("Unknown type: choose hard bounce, soft bounce or complaint."))
    campaign = None
    campaign_raw = args.get("campaign", "").strip()
    if campaign_raw:
        # Checked before the query: a NUL byte or an overlong value never reaches the database.
        if PUBLIC_ID.fullmatch(campaign_raw):
            campaign = db.session.scalar(
                sa.select(Campaign).where(Campaign.public_id == campaign_raw)
            )
        if campaign is None:
            raise BadFilter(_("There is no such newsletter."))
    since = _day(args.get("from", "").strip()[:32], _("The start date"))
    until = _day(args.get("to", "").strip()[:32], _("The end date"))
    if since and until and since > until:
        raise BadFilter(_("The start date is after the end date."))
    return BounceFilters(BounceType(kind_raw) if kind_raw else None, campaign, since, until)


@dataclass(frozen=True)
class BounceRow:
    """A bounce with the contact and the campaign it names (either may be gone)."""

    bounce: Bounce
    contact: Contact | None
    campaign: Campaign | None


@dataclass(frozen=True)
class BouncePage:
    """One page of the bounces list, newest first."""

    rows: list[BounceRow]
    page: int
    has_next: bool


def _with_names(bounces: list[Bounce]) -> list[BounceRow]:
    """Each bounce with its contact and campaign, in two queries for the whole page."""
    contact_ids = {b.contact_id for b in bounces}
    campaign_ids = {b.campaign_id for b in bounces if b.campaign_id is not None}
    contacts = (
        {c.id: c for c in db.session.scalars(sa.select(Contact).where(Contact.id.in_(contact_ids)))}
        if contact_ids
        else {}
    )
    campaigns = (
        {
            c.id: c
            for c in db.session.scalars(sa.select(Campaign).where(Campaign.id.in_(campaign_ids)))
        }
        if campaign_ids
        else {}
    )
    return [
        BounceRow(b, contacts.get(b.contact_id), campaigns.get(b.campaign_id or 0)) for b in bounces
    ]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def list_bounces(filters: BounceFilters, page: int = 1, per_page: int = PER_PAGE) -> BouncePage:
    """Bounces and complaints matching `filters`, with their contact and campaign.

    Paged like the contacts list: no total count, one row more than shown."""
    statement = sa.select(Bounce)
    if filters.kind is not None:
        statement = statement.where(Bounce.kind == filters.kind)
    if filters.campaign is not None:
        statement = statement.where(Bounce.campaign_id == filters.campaign.id)
    if filters.since is not None:
        statement = statement.where(Bounce.occurred_at >= _midnight(filters.since))
    if filters.until is not None:
        statement = statement.where(
            Bounce.occurred_at < _midnight(filters.until) + timedelta(days=1)
        )
    page = max(page, 1)
    rows = list(
        db.session.scalars(
            statement.order_by(Bounce.occurred_at.desc(), Bounce.id.desc())
            .offset((page - 1) * per_page)
            .limit(per_page + 1)
        )
    )
    return BouncePage(_with_names(rows[:per_page]), page=page, has_next=len(rows) > per_page)


def campaign_choices() -> list[Campaign]:
    """The newsletters the filter offers, newest first."""
    return list(
        db.session.scalars(
            sa.select(Campaign).order_by(Campaign.created_at.desc()).limit(CAMPAIGN_CHOICES)
        )
    )


def bounces_of(contact: Contact, limit: int = 100) -> list[BounceRow]:
    """A contact's bounces and complaints, newest first, for the contact page."""
    return _with_names(
        list(
            db.session.scalars(
                sa.select(Bounce)
                .where(Bounce.contact_id == contact.id)
                .order_by(Bounce.occurred_at.desc(), Bounce.id.desc())
                .limit(limit)
            )
        )
    )


@dataclass(frozen=True)
class BounceFigures:
    """Counts per kind and the mails they are measured against."""

    sent: int = 0
    hard: int = 0
    soft: int = 0
    complaint: int = 0

    def rate(self, kind: str) -> float | None:
        """The share in percent of mails that came back as `kind`; None with nothing sent."""
        if not self.sent:
            return None
        return 100.0 * int(getattr(self, str(kind))) / self.sent


def _by_kind(condition: sa.ColumnElement[bool]) -> dict[BounceType, int]:
    rows = db.session.execute(
        sa.select(Bounce.kind, sa.func.count(Bounce.id)).where(condition).group_by(Bounce.kind)
    ).all()
    return {BounceType(kind): int(count) for kind, count in rows}


def _refused(condition: sa.ColumnElement[bool]) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(Bounce.id)).where(condition, Bounce.source == REFUSAL)
        )
        or 0
    )


def _figures(sent: int, counts: dict[BounceType, int], refused: int) -> BounceFigures:
    return BounceFigures(
        sent=sent + refused,
        hard=counts.get(BounceType.HARD, 0),
        soft=counts.get(BounceType.SOFT, 0),
        complaint=counts.get(BounceType.COMPLAINT, 0),
    )


def campaign_figures(campaign: Campaign) -> BounceFigures:
    """A campaign's bounces and complaints against its mails sent (indexed by campaign)."""
    sent = db.session.scalar(
        sa.select(sa.func.count(OutboundEmail.id)).where(
            OutboundEmail.campaign_id == campaign.id,
            OutboundEmail.status == OutboundStatus.SENT,
        )
    )
    of_campaign = Bounce.campaign_id == campaign.id
    return _figures(int(sent or 0), _by_kind(of_campaign), _refused(of_campaign))


def recent_figures(now: datetime | None = None, days: int = RECENT_DAYS) -> BounceFigures:
    """Bounces and complaints of the last `days` days against every mail sent in them."""
    since = (now or utcnow()) - timedelta(days=days)
    sent = db.session.scalar(
        sa.select(sa.func.count(OutboundEmail.id)).where(
            OutboundEmail.status == OutboundStatus.SENT, OutboundEmail.sent_at >= since
        )
    )
    recent = Bounce.occurred_at >= since
    return _figures(int(sent or 0), _by_kind(recent), _refused(recent))


def complaints_too_high(figures: BounceFigures, limit_percent: float) -> bool:
    """Whether the complaint rate is above the warning limit (nothing sent: no)."""
    rate = figures.rate(BounceType.COMPLAINT)
    return rate is not None and rate > limit_percent
