"""Newsletter campaigns (P7), their steps: a draft is written, submitted, approved
(sent now or scheduled) by an admin, paused, resumed or cancelled; and the report.

Who may take each step is the permission table (`consentapp/permissions.py`),
checked here again so a script calling these with a staff account is refused too.
Queueing and sending are `consentapp/services/campaign_sending.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from consentapp.extensions import db
from consentapp.models import (
    ApiScope,
    ApiToken,
    Campaign,
    CampaignStatus,
    ConsentAction,
    ConsentEvent,
    OutboundEmail,
    OutboundStatus,
    StaffUser,
    Topic,
    utcnow,
)
from consentapp.permissions import Permission, allows
from consentapp.services import audit

FINAL_STATUSES = (CampaignStatus.SENT, CampaignStatus.CANCELLED)
HOLDING_STATUSES = (CampaignStatus.PAUSED, CampaignStatus.CANCELLED)


def N_(message: str) -> str:
    """Marks a refusal for the translation catalog; it is translated where it is shown."""
    return message


class CampaignError(ValueError):
    """A step that cannot be taken on this campaign now; `str()` says why (in English,
    as the API and the command line give it)."""

    def translated(self) -> str:
        """The reason as a sentence in the reader's language, for the staff area."""
        text = str(gettext(str(self)))
        text = text[:1].upper() + text[1:]
        return text if text.endswith((".", "!", "?")) else text + "."


def create_campaign(
    topic: Topic,
    subject_nl: str,
    body_nl: str,
    subject_en: str,
    body_en: str,
    actor: StaffUser | ApiToken | None,
) -> Campaign:
    """A draft (audited). Commits."""
    require_permission(actor, Permission.CAMPAIGN_WRITE)
    _check_texts(subject_nl, body_nl, subject_en)
    campaign = Campaign(
        topic=topic,
        subject_nl=subject_nl.strip(),
        body_nl=body_nl,
        subject_en=subject_en.strip(),
        body_en=body_en,
        created_by_id=actor.id if isinstance(actor, StaffUser) else None,
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


EDITABLE_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SUBMITTED)


def _check_texts(subject_nl: str, body_nl: str, subject_en: str) -> None:
    for subject in (subject_nl, subject_en):
        if "\r" in subject or "\n" in subject:
            raise CampaignError(N_("a subject is a single line"))
    if not subject_nl.strip() or not body_nl.strip():
        raise CampaignError(N_("the Dutch subject and text are required"))


def edit_campaign(
    campaign: Campaign,
    topic: Topic,
    subject_nl: str,
    body_nl: str,
    subject_en: str,
    body_en: str,
    actor: StaffUser | ApiToken | None,
) -> list[str]:
    """Change a campaign not yet scheduled (draft, or waiting for approval: the admin
    approves what is there when sending). Audited with the fields changed, which it
    returns; nothing changed is no change. Commits."""
    _check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_WRITE,
        EDITABLE_STATUSES,
        N_("only a campaign that is not scheduled yet can be changed"),
    )
    _check_texts(subject_nl, body_nl, subject_en)
    wanted = {
        "topic_id": topic.id,
        "subject_nl": subject_nl.strip(),
        "body_nl": body_nl,
        "subject_en": subject_en.strip(),
        "body_en": body_en,
    }
    changed = [name for name, value in wanted.items() if getattr(campaign, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(campaign, name, wanted[name])
    campaign.topic = topic
    fields = ["topic" if name == "topic_id" else name for name in changed]
    audit.record(
        "campaign.edit",
        target_type="campaign",
        target_id=campaign.public_id,
        details={"fields": fields},
        actor=actor,
    )
    db.session.commit()
    return fields


def revision(campaign: Campaign) -> str:
    """A short fingerprint of what would be sent: a confirmation carries it, so an
    approval is of the text the admin read, not of one changed meanwhile."""
    text = "\x00".join(
        (
            str(campaign.topic_id),
            campaign.subject_nl,
            campaign.body_nl,
            campaign.subject_en,
            campaign.body_en,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def require_permission(actor: StaffUser | ApiToken | None, permission: Permission) -> None:
    """Staff accounts need the permission, API tokens the `admin` scope; no actor is the
    operator's command line."""
    if isinstance(actor, ApiToken):
        if ApiScope.ADMIN not in actor.scope_set:
            raise CampaignError(N_("only a token with the admin scope can do this"))
    elif actor is not None and not allows(actor, permission):
        raise CampaignError(N_("only an admin can do this"))


def _check_step(
    campaign: Campaign,
    actor: StaffUser | ApiToken | None,
    permission: Permission,
    from_statuses: tuple[str, ...],
    refusal: str,
) -> None:
    """Every step's two checks, in this order: the actor may take it, and the campaign
    is in a status the step starts from (else `refusal`)."""
    require_permission(actor, permission)
    if campaign.status not in from_statuses:
        raise CampaignError(refusal)


def submit(campaign: Campaign, actor: StaffUser) -> None:
    """Staff ask an admin to approve a draft and send it. Commits."""
    _check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_WRITE,
        (CampaignStatus.DRAFT,),
        N_("only a draft can be submitted for approval"),
    )
    campaign.status = CampaignStatus.SUBMITTED
    campaign.submitted_by_id = actor.id
    audit.record(
        "campaign.submit", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()


def withdraw(campaign: Campaign, actor: StaffUser) -> None:
    """Back to draft: the writer takes it back, or an admin sends it back. Commits."""
    _check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_WRITE,
        (CampaignStatus.SUBMITTED,),
        N_("only a campaign waiting for approval can go back to draft"),
    )
    campaign.status = CampaignStatus.DRAFT
    campaign.submitted_by_id = None
    audit.record(
        "campaign.withdraw", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()


def schedule(campaign: Campaign, at: datetime | None, actor: StaffUser | ApiToken | None) -> None:
    """An admin, a token with the `admin` scope, or the operator's command (`actor`
    None) sends now (`at` empty) or at a time: that is the approval. Commits."""
    _check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_SEND,
        (CampaignStatus.DRAFT, CampaignStatus.SUBMITTED),
        N_("only a draft can be scheduled"),
    )
    campaign.status = CampaignStatus.SCHEDULED
    campaign.scheduled_at = at or utcnow()
    campaign.approved_by_id = actor.id if isinstance(actor, StaffUser) else None
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


def pause(campaign: Campaign, actor: StaffUser | None, reason: str = "paused by staff") -> None:
    """Hold the campaign: queued messages wait. Commits."""
    _check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_PAUSE,
        (CampaignStatus.SENDING,),
        N_("only a campaign that is sending can be paused"),
    )
    campaign.status = CampaignStatus.PAUSED
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
    _check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_SEND,
        (CampaignStatus.PAUSED,),
        N_("only a paused campaign can be resumed"),
    )
    campaign.status = CampaignStatus.SENDING
    campaign.pause_reason = None
    campaign.consecutive_failures = 0
    audit.record(
        "campaign.resume", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()


def cancel(campaign: Campaign, actor: StaffUser | None) -> int:
    """Stop for good: messages not yet sent are cancelled. Returns how many. Commits."""
    require_permission(actor, Permission.CAMPAIGN_CANCEL)
    if campaign.status in FINAL_STATUSES:
        raise CampaignError(N_("the campaign is finished already"))
    result = db.session.execute(
        sa.update(OutboundEmail)
        .where(
            OutboundEmail.campaign_id == campaign.id,
            OutboundEmail.status == OutboundStatus.PENDING,
        )
        .values(status=OutboundStatus.CANCELLED, last_error="campaign cancelled"),
        execution_options={"synchronize_session": False},
    )
    campaign.status = CampaignStatus.CANCELLED
    campaign.finished_at = utcnow()
    audit.record(
        "campaign.cancel", target_type="campaign", target_id=campaign.public_id, actor=actor
    )
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


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
                OutboundEmail.status == OutboundStatus.FAILED,
            )
            .group_by(OutboundEmail.last_error)
        ).all()
    ]
    withdrawn = db.session.scalars(
        sa.select(ConsentEvent.details).where(
            ConsentEvent.action == ConsentAction.WITHDRAWN,
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
