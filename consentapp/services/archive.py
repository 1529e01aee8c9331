"""The public newsletter archive: sent campaigns that staff published, per topic, and
an Atom feed per topic. Nothing personal is in it: the body is rendered from the
campaign's own text, with no recipient's links (`consentapp/services/campaign_sending.py`
adds those to each mail).

Only campaigns that were sent to everyone show (status `sent`): drafts, scheduled,
sending, paused and cancelled ones do not, even when they are marked for the archive.
A campaign cancelled part-way stays out: staff stopped it, so it is not published,
even if some subscribers got it. Marking one for the archive can be done at any time
(also before sending); it shows from the moment sending is finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import Campaign, CampaignStatus, StaffUser, Topic, utcnow
from consentapp.models.campaign import campaign_topics
from consentapp.permissions import Permission
from consentapp.services import audit
from consentapp.services.campaigns import require_permission
from consentapp.services.reference import offered_topics

ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 20

# When a campaign counts as published: when its last mail went out.
PUBLISHED = sa.func.coalesce(Campaign.finished_at, Campaign.started_at, Campaign.created_at)


def _published_rule() -> tuple[sa.ColumnElement[bool], ...]:
    return (Campaign.in_archive.is_(True), Campaign.status == CampaignStatus.SENT)


def set_in_archive(campaign: Campaign, published: bool, actor: StaffUser | None) -> bool:
    """Put a campaign in the public archive or take it out; audited. Commits.

    Returns False when it already was as asked (nothing recorded)."""
    require_permission(actor, Permission.CAMPAIGN_SEND)
    if campaign.in_archive == published:
        return False
    campaign.in_archive = published
    audit.record(
        "campaign.archive" if published else "campaign.unarchive",
        target_type="campaign",
        target_id=campaign.public_id,
        actor=actor,
    )
    db.session.commit()
    return True


@dataclass(frozen=True)
class ArchiveItem:
    """One published newsletter as the archive page lists it (its text stays behind)."""

    public_id: str
    subject_nl: str
    subject_en: str
    published: datetime

    def subject(self, language: str) -> str:
        """The subject in `language`, as the mail had it (Dutch when no English one)."""
        return self.subject_en if language == "en" and self.subject_en.strip() else self.subject_nl


@dataclass(frozen=True)
class ArchiveSection:
    """A topic and its published newsletters, newest first."""

    slug: str
    label: str
    items: list[ArchiveItem]


def archive_sections(language: str) -> list[ArchiveSection]:
    """The topics on offer (each with its feed, even before anything is published),
    then retired topics that have published newsletters. Two queries at most."""
    published = _published_by_topic()
    sections = [
        ArchiveSection(topic.slug, topic.label(language), published.pop(topic.id, []))
        for topic in offered_topics()
    ]
    if published:
        retired = db.session.scalars(
            sa.select(Topic).where(Topic.id.in_(published)).order_by(Topic.position, Topic.id)
        )
        sections += [
            ArchiveSection(topic.slug, topic.label(language), published[topic.id])
            for topic in retired
        ]
    return sections


def _published_by_topic() -> dict[int, list[ArchiveItem]]:
    """Every published newsletter by topic id (under each topic it went to), newest
    first: one query, no bodies."""
    rows = db.session.execute(
        sa.select(
            campaign_topics.c.topic_id,
            Campaign.public_id,
            Campaign.subject_nl,
            Campaign.subject_en,
            PUBLISHED,
        )
        .join(campaign_topics, campaign_topics.c.campaign_id == Campaign.id)
        .where(*_published_rule())
        .order_by(PUBLISHED.desc(), Campaign.id.desc())
    ).all()
    items: dict[int, list[ArchiveItem]] = {}
    for topic_id, public_id, subject_nl, subject_en, published in rows:
        items.setdefault(topic_id, []).append(
            ArchiveItem(public_id, subject_nl, subject_en, published)
        )
    return items


def _of_topic(topic: Topic) -> sa.ColumnElement[bool]:
    """The campaign went to this topic (as its main one or one of several)."""
    return (
        sa.select(campaign_topics.c.campaign_id)
        .where(campaign_topics.c.campaign_id == Campaign.id, campaign_topics.c.topic_id == topic.id)
        .exists()
    )


def find_topic(slug: str) -> Topic | None:
    """A topic by its slug, retired ones included (their archive stays readable)."""
    topic: Topic | None = db.session.scalar(sa.select(Topic).where(Topic.slug == slug))
    return topic


def find_published(topic: Topic, public_id: str) -> Campaign | None:
    """A published newsletter of this topic, or None."""
    campaign: Campaign | None = db.session.scalar(
        sa.select(Campaign).where(
            _of_topic(topic), Campaign.public_id == public_id, *_published_rule()
        )
    )
    return campaign


def latest_published(topic: Topic, limit: int = FEED_ENTRIES) -> Sequence[Campaign]:
    """The topic's newest published newsletters, for its feed."""
    return db.session.scalars(
        sa.select(Campaign)
        .where(_of_topic(topic), *_published_rule())
        .order_by(PUBLISHED.desc(), Campaign.id.desc())
        .limit(limit)
    ).all()


def published_at(campaign: Campaign) -> datetime:
    """When a campaign counts as published (see `PUBLISHED`)."""
    return campaign.finished_at or campaign.started_at or campaign.created_at


@dataclass(frozen=True)
class FeedEntry:
    """One entry of an Atom feed, with its text already rendered as HTML."""

    id: str
    title: str
    link: str
    updated: datetime
    html: str


def _timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC; stored times are naive UTC (SQLite) or aware."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def atom_feed(
    *,
    feed_id: str,
    title: str,
    author: str,
    self_link: str,
    page_link: str,
    entries: list[FeedEntry],
) -> bytes:
    """An Atom 1.0 document; ElementTree escapes every text, so a subject or body
    with markup or `&` cannot break out of its element."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    newest = max((entry.updated for entry in entries), default=None)
    # An empty feed changed last... now, as far as a reader can tell.
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _timestamp(newest or utcnow())
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = author
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_link)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=page_link)
    for entry in entries:
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(item, f"{{{ATOM}}}id").text = entry.id
        ET.SubElement(item, f"{{{ATOM}}}title").text = entry.title
        ET.SubElement(item, f"{{{ATOM}}}updated").text = _timestamp(entry.updated)
        ET.SubElement(item, f"{{{ATOM}}}link", rel="alternate", type="text/html", href=entry.link)
        ET.SubElement(item, f"{{{ATOM}}}content", type="html").text = entry.html
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
