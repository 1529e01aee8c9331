"""Sending a campaign: render it once per language, queue it in batches to its
audience (`consentapp/services/campaign_audience.py`), start and close campaigns on
time, and count the failures in a row that pause one.

Each recipient gets the mail once, in their own language, with a personal one-click
unsubscribe for the topics through which it reached them. Consent is checked again by
the delivery pass just before each message goes out. The campaign's steps (draft to
approval, pause, cancel) and its report are `consentapp/services/campaigns.py`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import nh3
import sqlalchemy as sa
from flask import current_app
from markupsafe import Markup

from consentapp.extensions import db
from consentapp.links import (
    external_url,
    list_unsubscribe_headers,
    preferences_url,
    web_version_url,
)
from consentapp.mail.outbox import feedback_id, queue_rendered, sender_domain
from consentapp.mail.render import RenderedMail, edition_language, fill_in, render_mail
from consentapp.markdown import LinkMap, render_markdown, render_plain_text
from consentapp.models import (
    Campaign,
    CampaignStatus,
    Contact,
    OutboundEmail,
    OutboundStatus,
    StaffUser,
    Topic,
    utcnow,
)
from consentapp.permissions import Permission
from consentapp.services import audit
from consentapp.services.campaign_audience import still_to_queue, topics_reached
from consentapp.services.campaign_links import CampaignLinks, link_values, pixel_url
from consentapp.services.campaigns import require_permission
from consentapp.services.topics import topic_names
from consentapp.tokens import Purpose, make_token

ALLOWED_TAGS = {
    "a", "p", "br", "strong", "em", "ul", "ol", "li", "h1", "h2", "h3", "h4",
    "blockquote", "code", "pre", "hr",
}  # fmt: skip
QUEUE_BATCH = 1000


def render_body(markdown: str, link: LinkMap | None = None) -> tuple[Markup, str]:
    """Markdown as sanitised HTML (nh3 keeps only simple tags) and as plain text;
    `link` turns each written address into the one the mail links to."""
    html = nh3.clean(
        str(render_markdown(markdown, breaks=True, link=link)),
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(html), render_plain_text(markdown, link)  # noqa: S704 - cleaned by nh3


def list_id(topic: Topic) -> str:
    """RFC 2919 List-Id: the topic under the sender's domain."""
    return f"{topic.label_en} <{topic.slug}.{sender_domain()}>"


@dataclass(frozen=True)
class _Edition:
    """The campaign's mail in one language, rendered once with stand-in links that each
    recipient's own links replace."""

    mail: RenderedMail
    marker: str
    unsubscribe: str
    preferences: str
    web_version: str
    topics: str = ""  # stands in for the names of the topics that reached the person
    links: tuple[int, ...] = ()  # the campaign links in the text, each a stand-in
    # The same mail with the open pixel, for those who agreed to personal statistics
    # (only when staff switched the pixel on for this campaign).
    with_pixel: RenderedMail | None = None


def _editions(campaign: Campaign, *, count_clicks: bool = True) -> dict[str, _Edition]:
    """Every language, rendered once for a whole batch; with `count_clicks`, its links
    lead through the campaign's counting redirect (a test mail links straight)."""
    editions = {}
    links = CampaignLinks(campaign) if count_clicks else None
    for language in current_app.config["LANGUAGES"]:
        # Unguessable, so no text a staff member writes can contain it.
        marker = secrets.token_hex(12)
        stand_in = f"https://{marker}.invalid/"
        used: list[int] = []
        link = links.mapper(language, stand_in, used) if links else None
        body_html, body_text = render_body(campaign.body(language), link)
        unsubscribe, preferences = stand_in + "unsubscribe", stand_in + "preferences"
        web_version, topics = stand_in + "web-version", stand_in + "topics"
        context = {
            "body_html": body_html,
            "body_text": body_text,
            "topic": topics,
            "unsubscribe_url": unsubscribe,
            "preferences_url": preferences,
            "web_version_url": web_version,
        }
        subject = campaign.subject(language)
        mail = render_mail("newsletter", language, subject, **context)
        with_pixel = (
            render_mail("newsletter", language, subject, pixel_url=stand_in + "open", **context)
            if campaign.open_pixel and count_clicks
            else None
        )
        editions[language] = _Edition(
            mail, marker, unsubscribe, preferences, web_version, topics, tuple(used), with_pixel
        )
    return editions


def _queue_one(
    campaign: Campaign,
    contact: Contact,
    editions: dict[str, _Edition],
    reached: Sequence[Topic],
    *,
    test: bool = False,
) -> OutboundEmail:
    """Queue the mail of one recipient, reached through the topics `reached`."""
    language = edition_language(contact.language)
    edition = editions[language]
    slugs = [topic.slug for topic in reached]
    token = make_token(Purpose.UNSUBSCRIBE, contact, t=slugs, k=campaign.public_id)
    unsubscribe = external_url("subscriptions.unsubscribe", token=token)
    headers = list_unsubscribe_headers(unsubscribe) | {
        "List-Id": list_id(campaign.topic),
        "Feedback-ID": feedback_id("newsletter", campaign.public_id, campaign.topic.slug),
    }
    personal = contact if contact.statistics_since is not None and not test else None
    stand_in = f"https://{edition.marker}.invalid/"
    values = {
        edition.unsubscribe: unsubscribe,
        edition.preferences: preferences_url(contact),
        edition.web_version: _staff_copy_url(campaign, language)
        if test
        else web_version_url(contact, campaign.public_id),
        edition.topics: topic_names(reached, language),
        **link_values(stand_in, edition.links, personal),
    }
    mail = edition.mail
    if personal is not None and edition.with_pixel is not None:
        mail, values[stand_in + "open"] = edition.with_pixel, pixel_url(campaign, personal)
    return queue_rendered(
        to=contact.mail_address,
        kind="newsletter",
        rendered=fill_in(mail, values, edition.marker),
        contact_id=None if test else contact.id,
        headers=headers,
        requires_subscription=not test,
        topic_id=None if test else reached[0].id,
        campaign_id=None if test else campaign.id,
        reached_topics=None if test else [topic.id for topic in reached],
    )


def _staff_copy_url(campaign: Campaign, language: str) -> str:
    """A test mail's "view in browser" link: the campaign's page in the staff area, at
    that language's preview (the stand-in reader of a test has no web version)."""
    return external_url("staff.campaign", public_id=campaign.public_id) + f"#preview-{language}"


def send_test(campaign: Campaign, actor: StaffUser) -> None:
    """The campaign in every language to the staff member's own address. Commits."""
    require_permission(actor, Permission.CAMPAIGN_WRITE)
    editions = _editions(campaign, count_clicks=False)
    for language in current_app.config["LANGUAGES"]:
        stand_in = Contact(email=actor.email, public_id=f"test-{language}", language=language)
        row = _queue_one(campaign, stand_in, editions, campaign.all_topics, test=True)
        row.subject = f"[TEST] {row.subject}"
    audit.record("campaign.test", target_type="campaign", target_id=campaign.public_id, actor=actor)
    db.session.commit()


def queue_batch(campaign: Campaign, size: int = QUEUE_BATCH) -> int:
    """Queue the next batch of the audience (by contact id), each person once. Commits.

    Workers may run this at the same time: a no-op UPDATE of the campaign row takes
    its lock first (SQLite: the write lock), then the cursor is read fresh, so no two
    workers queue the same recipients.
    """
    locked = db.session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.queued_all.is_(False))
        .values(queue_cursor=Campaign.queue_cursor)
        .returning(Campaign.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if locked is None:
        db.session.commit()
        return 0
    db.session.refresh(campaign)
    found = db.session.scalars(
        sa.select(Contact).where(*still_to_queue(campaign)).order_by(Contact.id).limit(size)
    ).all()
    reached = topics_reached(campaign, [contact.id for contact in found])
    editions = _editions(campaign)
    queued = 0
    for contact in found:
        if reached[contact.id]:  # else withdrawn between the two reads: not queued
            _queue_one(campaign, contact, editions, reached[contact.id])
            queued += 1
        campaign.queue_cursor = contact.id
    campaign.recipients += queued
    if len(found) < size:
        campaign.queued_all = True
    db.session.commit()
    return queued


def run_due_campaigns(now: datetime | None = None, batch: int = QUEUE_BATCH) -> int:
    """The worker's part: start due campaigns, queue one batch each, close finished ones.

    Returns how many messages were queued in this pass.
    """
    now = now or utcnow()
    queued = 0
    due = db.session.scalars(
        sa.select(Campaign).where(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now
        )
    ).all()
    for campaign in due:
        started = db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.SCHEDULED)
            .values(status=CampaignStatus.SENDING, started_at=now),
            execution_options={"synchronize_session": False},
        )
        if getattr(started, "rowcount", 0) == 1:  # not started by another worker meanwhile
            audit.record("campaign.start", target_type="campaign", target_id=campaign.public_id)
        db.session.commit()
    sending = db.session.scalars(
        sa.select(Campaign).where(Campaign.status == CampaignStatus.SENDING)
    ).all()
    for campaign in sending:
        if not campaign.queued_all:
            queued += queue_batch(campaign, batch)
        elif not _unfinished(campaign):
            finished = db.session.execute(
                sa.update(Campaign)
                .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.SENDING)
                .values(status=CampaignStatus.SENT, finished_at=utcnow()),
                execution_options={"synchronize_session": False},
            )
            if getattr(finished, "rowcount", 0) == 1:
                audit.record("campaign.sent", target_type="campaign", target_id=campaign.public_id)
            db.session.commit()
    return queued


def _unfinished(campaign: Campaign) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(OutboundEmail.id)).where(
                OutboundEmail.campaign_id == campaign.id,
                OutboundEmail.status.in_([OutboundStatus.PENDING, OutboundStatus.SENDING]),
            )
        )
        or 0
    )


_CAMPAIGNS = cast(sa.Table, Campaign.__table__)


def note_delivery(campaign_id: int, success: bool) -> bool:
    """Count consecutive failures; too many in a row pause the campaign. No commit.

    Returns True when this failure paused the campaign.
    """
    if success:
        db.session.execute(
            sa.update(_CAMPAIGNS)
            .where(_CAMPAIGNS.c.id == campaign_id, _CAMPAIGNS.c.consecutive_failures != 0)
            .values(consecutive_failures=0)
        )
        return False
    streak = db.session.execute(
        sa.update(_CAMPAIGNS)
        .where(_CAMPAIGNS.c.id == campaign_id)
        .values(consecutive_failures=_CAMPAIGNS.c.consecutive_failures + 1)
        .returning(_CAMPAIGNS.c.consecutive_failures, _CAMPAIGNS.c.status)
    ).first()
    limit = current_app.config["CAMPAIGN_MAX_CONSECUTIVE_FAILURES"]
    if streak is None or streak[0] < limit or streak[1] != CampaignStatus.SENDING:
        return False
    reason = f"{limit} deliveries failed in a row; check the mail server"
    db.session.execute(
        sa.update(_CAMPAIGNS)
        .where(_CAMPAIGNS.c.id == campaign_id)
        .values(status=CampaignStatus.PAUSED, pause_reason=reason)
    )
    public_id = db.session.scalar(
        sa.select(_CAMPAIGNS.c.public_id).where(_CAMPAIGNS.c.id == campaign_id)
    )
    audit.record(
        "campaign.pause",
        target_type="campaign",
        target_id=public_id,
        details={"reason": reason},
    )
    return True
