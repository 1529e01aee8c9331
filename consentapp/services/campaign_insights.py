"""How a campaign's links did: clicks per link and per day, from the totals kept with
the anonymous (link, day) counts, every figure through `small_counts` (below 5: "< 5")."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    Campaign,
    CampaignClickDay,
    CampaignLink,
    Contact,
    PersonalStatistic,
    StaffUser,
)
from consentapp.permissions import Permission
from consentapp.services import audit
from consentapp.services.campaigns import EDITABLE_STATUSES, require_permission
from consentapp.services.small_counts import Figure, breakdown, figure


@dataclass(frozen=True)
class ClickReport:
    """The clicks of one campaign: each breakdown sums to `total`.

    No breakdown per language of the mail: each language's text has links of its own,
    so its figure is the sum of some link figures and would give a hidden one away."""

    total: Figure
    links: dict[str, Figure]  # address → clicks, in the order the text has them
    days: dict[date, Figure]

    @property
    def any_links(self) -> bool:
        return bool(self.links)


def click_report(campaign: Campaign) -> ClickReport:
    """The link totals and the campaign's day counts, kept by the click write (see
    `click_tally.add_clicks`): a row per link and a row per day, however many (link,
    day) rows lie behind them."""
    per_link: dict[str, int] = {}
    for url, count in db.session.execute(
        sa.select(CampaignLink.url, CampaignLink.clicks)
        .where(CampaignLink.campaign_id == campaign.id)
        .order_by(CampaignLink.position, CampaignLink.language)
    ):
        per_link[url] = per_link.get(url, 0) + count
    per_day: dict[date, int] = {
        day: count
        for day, count in db.session.execute(
            sa.select(CampaignClickDay.day, CampaignClickDay.clicks)
            .where(CampaignClickDay.campaign_id == campaign.id)
            .order_by(CampaignClickDay.day)
        )
    }
    return ClickReport(
        total=figure(sum(per_link.values())),
        links=breakdown(per_link),
        days=breakdown(per_day),
    )


@dataclass(frozen=True)
class PersonalRecord:
    """One click or open of a person who agreed to personal statistics."""

    occurred_at: datetime
    campaign: str  # the Dutch subject
    campaign_id: str
    url: str | None  # None: an open


def personal_records(contact: Contact, limit: int | None = 100) -> list[PersonalRecord]:
    """The person's latest recorded clicks and opens, newest first (all: no limit)."""
    rows = db.session.execute(
        sa.select(
            PersonalStatistic.occurred_at,
            Campaign.subject_nl,
            Campaign.public_id,
            CampaignLink.url,
        )
        .join(Campaign, Campaign.id == PersonalStatistic.campaign_id)
        .outerjoin(CampaignLink, CampaignLink.id == PersonalStatistic.link_id)
        .where(PersonalStatistic.contact_id == contact.id)
        .order_by(PersonalStatistic.occurred_at.desc(), PersonalStatistic.id.desc())
        .limit(limit)
    )
    return [PersonalRecord(*row) for row in rows]


def opens(campaign: Campaign) -> Figure:
    """How many consenting readers opened it (the pixel), when staff switched it on."""
    return figure(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(PersonalStatistic)
            .where(
                PersonalStatistic.campaign_id == campaign.id, PersonalStatistic.link_id.is_(None)
            )
        )
        or 0
    )


def set_open_pixel(campaign: Campaign, wanted: bool, actor: StaffUser | None) -> bool:
    """Switch the open pixel on or off before sending; audited. Commits. False when
    the campaign is scheduled or further (its mails may be made already)."""
    require_permission(actor, Permission.CAMPAIGN_SEND)
    if campaign.status not in EDITABLE_STATUSES:
        return False
    if campaign.open_pixel == wanted:
        return True
    campaign.open_pixel = wanted
    audit.record(
        "campaign.open_pixel",
        target_type="campaign",
        target_id=campaign.public_id,
        actor=actor,
        details={"open_pixel": wanted},
    )
    db.session.commit()
    return True


def click_report_csv(report: ClickReport) -> str:
    """The report as CSV: one row per figure, "< 5" where the report hides one."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["breakdown", "value", "clicks"])
    writer.writerow(["total", "", report.total.export()])
    for url, cell in report.links.items():
        writer.writerow(["link", url, cell.export()])
    for day, cell in report.days.items():
        writer.writerow(["day", day.isoformat(), cell.export()])
    return out.getvalue()
