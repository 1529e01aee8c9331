"""Newsletter campaigns (P7): compose, preview, test, schedule, queue in batches, report.

Only confirmed subscribers of the campaign's topic receive it, each in their own
language, each with a personal one-click unsubscribe for that topic. Consent is
checked again by the worker just before each message goes out.
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
from consentapp.links import external_url, list_unsubscribe_headers, preferences_url
from consentapp.mail.outbox import queue_rendered, sender_domain
from consentapp.mail.render import RenderedMail, fill_in, render_mail
from consentapp.markdown import render_markdown
from consentapp.models import (
    Campaign,
    CampaignStatus,
    ConsentAction,
    ConsentEvent,
    Contact,
    OutboundEmail,
    OutboundStatus,
    StaffUser,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.permissions import Permission, allows
from consentapp.services import audit
from consentapp.tokens import Purpose, make_token

ALLOWED_TAGS = {
    "a", "p", "br", "strong", "em", "ul", "ol", "li", "h1", "h2", "h3", "h4",
    "blockquote", "code", "pre", "hr",
}  # fmt: skip
QUEUE_BATCH = 1000
FINAL_STATUSES = (CampaignStatus.SENT.value, CampaignStatus.CANCELLED.value)


class CampaignError(ValueError):
    """A step that cannot be taken on this campaign now; `str()` says why."""


def render_body(markdown: str) -> tuple[Markup, str]:
    """Markdown as sanitised HTML (nh3 keeps only simple tags) and as plain text."""
    html = nh3.clean(
        str(render_markdown(markdown)),
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
    return Markup(html), markdown.strip() + "\n"  # noqa: S704 - cleaned by nh3 above


def create_campaign(
    topic: Topic,
    subject_nl: str,
    body_nl: str,
    subject_en: str,
    body_en: str,
    actor: StaffUser | None,
) -> Campaign:
    """A draft (audited). Commits."""
    for subject in (subject_nl, subject_en):
        if "\r" in subject or "\n" in subject:
            raise CampaignError("a subject is a single line")
    if not subject_nl.strip() or not body_nl.strip():
        raise CampaignError("the Dutch subject and text are required")
    campaign = Campaign(
        topic=topic,
        subject_nl=subject_nl.strip(),
        body_nl=body_nl,
        subject_en=subject_en.strip(),
        body_en=body_en,
        created_by_id=actor.id if actor else None,
    )
    db.session.add(campaign)
    db.session.flush()
    audit.record(
        "campaign.create",
        target_type="campaign",
        target_id=campaign.public_id,
        details={"topic": topic.slug},
        actor=actor,
    )
    db.session.commit()
    return campaign


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


def _editions(campaign: Campaign) -> dict[str, _Edition]:
    """Both languages, rendered once for a whole batch."""
    editions = {}
    for language in ("nl", "en"):
        body_html, body_text = render_body(campaign.body(language))
        # Unguessable, so no text a staff member writes can contain it.
        marker = secrets.token_hex(12)
        stand_in = f"https://{marker}.invalid/"
        unsubscribe, preferences = stand_in + "unsubscribe", stand_in + "preferences"
        mail = render_mail(
            "newsletter",
            language,
            campaign.subject(language),
            body_html=body_html,
            body_text=body_text,
            topic=campaign.topic.label(language),
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
        )
        editions[language] = _Edition(mail, marker, unsubscribe, preferences)
    return editions


def _queue_one(
    campaign: Campaign,
    contact: Contact,
    editions: dict[str, _Edition],
    *,
    test: bool = False,
) -> OutboundEmail:
    edition = editions[contact.language if contact.language in editions else "nl"]
    token = make_token(Purpose.UNSUBSCRIBE, contact, t=[campaign.topic.slug], k=campaign.public_id)
    unsubscribe = external_url("subscriptions.unsubscribe", token=token)
    headers = list_unsubscribe_headers(unsubscribe) | {"List-Id": list_id(campaign.topic)}
    return queue_rendered(
        to=contact.mail_address,
        kind="newsletter",
        rendered=fill_in(
            edition.mail,
            {edition.unsubscribe: unsubscribe, edition.preferences: preferences_url(contact)},
            edition.marker,
        ),
        contact_id=None if test else contact.id,
        headers=headers,
        requires_subscription=not test,
        topic_id=None if test else campaign.topic_id,
        campaign_id=None if test else campaign.id,
    )


def send_test(campaign: Campaign, actor: StaffUser) -> None:
    """The campaign in both languages to the staff member's own address. Commits."""
    _require(actor, Permission.CAMPAIGN_WRITE)
    editions = _editions(campaign)
    for language in ("nl", "en"):
        stand_in = Contact(email=actor.email, public_id=f"test-{language}", language=language)
        row = _queue_one(campaign, stand_in, editions, test=True)
        row.subject = f"[TEST] {row.subject}"
    audit.record("campaign.test", target_type="campaign", target_id=campaign.public_id, actor=actor)
    db.session.commit()


def _require(actor: StaffUser | None, permission: Permission) -> None:
    """Staff accounts need the permission; no actor is the operator's command line."""
    if actor is not None and not allows(actor, permission):
        raise CampaignError("only an admin can do this")


def submit(campaign: Campaign, actor: StaffUser) -> None:
    """Staff ask an admin to approve a draft and send it. Commits."""
    _require(actor, Permission.CAMPAIGN_WRITE)
    if campaign.status != CampaignStatus.DRAFT.value:
        raise CampaignError("only a draft can be submitted for approval")
    campaign.status = CampaignStatus.SUBMITTED.value
    campaign.submitted_by_id = actor.id
    audit.record(
        "campaign.submit", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()


def withdraw(campaign: Campaign, actor: StaffUser) -> None:
    """Back to draft: the writer takes it back, or an admin sends it back. Commits."""
    _require(actor, Permission.CAMPAIGN_WRITE)
    if campaign.status != CampaignStatus.SUBMITTED.value:
        raise CampaignError("only a campaign waiting for approval can go back to draft")
    campaign.status = CampaignStatus.DRAFT.value
    campaign.submitted_by_id = None
    audit.record(
        "campaign.withdraw", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()


def schedule(campaign: Campaign, at: datetime | None, actor: StaffUser | None) -> None:
    """An admin (or the operator's command, `actor` None) sends now (`at` empty) or at a
    time: that is the approval. Commits."""
    _require(actor, Permission.CAMPAIGN_SEND)
    if campaign.status not in (CampaignStatus.DRAFT.value, CampaignStatus.SUBMITTED.value):
        raise CampaignError("only a draft can be scheduled")
    campaign.status = CampaignStatus.SCHEDULED.value
    campaign.scheduled_at = at or utcnow()
    campaign.approved_by_id = actor.id if actor else None
    audit.record(
        "campaign.schedule",
        target_type="campaign",
        target_id=campaign.public_id,
        details={
            "at": campaign.scheduled_at.isoformat(),
            "submitted_by": campaign.submitted_by_id,
        },
        actor=actor,
    )
    db.session.commit()


def queue_batch(campaign: Campaign, size: int = QUEUE_BATCH) -> int:
    """Queue the next batch of confirmed subscribers (by subscription id). Commits.

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
    rows = db.session.execute(
        sa.select(Subscription.id, Contact)
        .join(Contact, Contact.id == Subscription.contact_id)
        .where(
            Subscription.topic_id == campaign.topic_id,
            Subscription.status == SubscriptionStatus.CONFIRMED.value,
            Subscription.id > campaign.queue_cursor,
            Contact.email.is_not(None),
        )
        .order_by(Subscription.id)
        .limit(size)
    ).all()
    editions = _editions(campaign)
    for subscription_id, contact in rows:
        _queue_one(campaign, contact, editions)
        campaign.queue_cursor = subscription_id
    campaign.recipients += len(rows)
    if len(rows) < size:
        campaign.queued_all = True
    db.session.commit()
    return len(rows)


def run_due_campaigns(now: datetime | None = None, batch: int = QUEUE_BATCH) -> int:
    """The worker's part: start due campaigns, queue one batch each, close finished ones.

    Returns how many messages were queued in this pass.
    """
    now = now or utcnow()
    queued = 0
    due = db.session.scalars(
        sa.select(Campaign).where(
            Campaign.status == CampaignStatus.SCHEDULED.value, Campaign.scheduled_at <= now
        )
    ).all()
    for campaign in due:
        started = db.session.execute(
            sa.update(Campaign)
            .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.SCHEDULED.value)
            .values(status=CampaignStatus.SENDING.value, started_at=now),
            execution_options={"synchronize_session": False},
        )
        if getattr(started, "rowcount", 0) == 1:  # not started by another worker meanwhile
            audit.record("campaign.start", target_type="campaign", target_id=campaign.public_id)
        db.session.commit()
    sending = db.session.scalars(
        sa.select(Campaign).where(Campaign.status == CampaignStatus.SENDING.value)
    ).all()
    for campaign in sending:
        if not campaign.queued_all:
            queued += queue_batch(campaign, batch)
        elif not _unfinished(campaign):
            finished = db.session.execute(
                sa.update(Campaign)
                .where(Campaign.id == campaign.id, Campaign.status == CampaignStatus.SENDING.value)
                .values(status=CampaignStatus.SENT.value, finished_at=utcnow()),
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
                OutboundEmail.status.in_(
                    [OutboundStatus.PENDING.value, OutboundStatus.SENDING.value]
                ),
            )
        )
        or 0
    )


def pause(campaign: Campaign, actor: StaffUser | None, reason: str = "paused by staff") -> None:
    """Hold the campaign: queued messages wait. Commits."""
    _require(actor, Permission.CAMPAIGN_PAUSE)
    if campaign.status != CampaignStatus.SENDING.value:
        raise CampaignError("only a campaign that is sending can be paused")
    campaign.status = CampaignStatus.PAUSED.value
    campaign.pause_reason = reason
    audit.record(
        "campaign.pause",
        target_type="campaign",
        target_id=campaign.public_id,
        details={"reason": reason},
        actor=actor,
    )
    db.session.commit()


def resume(campaign: Campaign, actor: StaffUser | None) -> None:
    """Go on where the campaign stopped. Commits."""
    _require(actor, Permission.CAMPAIGN_SEND)
    if campaign.status != CampaignStatus.PAUSED.value:
        raise CampaignError("only a paused campaign can be resumed")
    campaign.status = CampaignStatus.SENDING.value
    campaign.pause_reason = None
    campaign.consecutive_failures = 0
    audit.record(
        "campaign.resume", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()


def cancel(campaign: Campaign, actor: StaffUser | None) -> int:
    """Stop for good: messages not yet sent are cancelled. Returns how many. Commits."""
    _require(actor, Permission.CAMPAIGN_CANCEL)
    if campaign.status in FINAL_STATUSES:
        raise CampaignError("the campaign is finished already")
    result = db.session.execute(
        sa.update(OutboundEmail)
        .where(
            OutboundEmail.campaign_id == campaign.id,
            OutboundEmail.status == OutboundStatus.PENDING.value,
        )
        .values(status=OutboundStatus.CANCELLED.value, last_error="campaign cancelled"),
        execution_options={"synchronize_session": False},
    )
    campaign.status = CampaignStatus.CANCELLED.value
    campaign.finished_at = utcnow()
    audit.record(
        "campaign.cancel", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


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
    if streak is None or streak[0] < limit or streak[1] != CampaignStatus.SENDING.value:
        return False
    reason = f"{limit} deliveries failed in a row; check the mail server"
    db.session.execute(
        sa.update(_CAMPAIGNS)
        .where(_CAMPAIGNS.c.id == campaign_id)
        .values(status=CampaignStatus.PAUSED.value, pause_reason=reason)
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


@dataclass(frozen=True)
class CampaignReport:
    """Progress and outcome of a campaign."""

    by_status: dict[str, int]
    failures: list[tuple[str, int]]
    unsubscribes: int

    @property
    def remaining(self) -> int:
        return self.by_status.get("pending", 0) + self.by_status.get("sending", 0)


def report(campaign: Campaign) -> CampaignReport:
    """Sent, failed (with reasons), remaining, and unsubscribes that came from it."""
    by_status = dict(
        db.session.execute(
            sa.select(OutboundEmail.status, sa.func.count())
            .where(OutboundEmail.campaign_id == campaign.id)
            .group_by(OutboundEmail.status)
        ).all()
    )
    failures = [
        (str(reason), int(count))
        for reason, count in db.session.execute(
            sa.select(OutboundEmail.last_error, sa.func.count())
            .where(
                OutboundEmail.campaign_id == campaign.id,
                OutboundEmail.status == OutboundStatus.FAILED.value,
            )
            .group_by(OutboundEmail.last_error)
        ).all()
    ]
    withdrawn = db.session.scalars(
        sa.select(ConsentEvent.details).where(
            ConsentEvent.action == ConsentAction.WITHDRAWN.value,
            ConsentEvent.topic_id == campaign.topic_id,
            ConsentEvent.occurred_at >= (campaign.started_at or campaign.created_at),
        )
    )
    unsubscribes = sum(1 for d in withdrawn if d and d.get("campaign") == campaign.public_id)
    return CampaignReport(
        by_status={str(k): int(v) for k, v in by_status.items()},
        failures=failures,
        unsubscribes=unsubscribes,
    )


HOLDING_STATUSES = (CampaignStatus.PAUSED.value, CampaignStatus.CANCELLED.value)


def campaigns_holding(ids: Sequence[int]) -> dict[int, str]:
    """Of these campaign ids, those whose messages must wait (paused) or must not go
    out (cancelled), with that status."""
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Campaign.id, Campaign.status).where(
            Campaign.id.in_(ids), Campaign.status.in_(HOLDING_STATUSES)
        )
    )
    return {campaign_id: status for campaign_id, status in rows}
