"""Newsletter campaigns (P7), their steps: a draft is written, submitted, approved
(sent now or scheduled) by an admin, paused, resumed or cancelled; and the report.

Who may take each step is the permission table (`consentapp/permissions.py`),
checked here again so a script calling these with a staff account is refused too.
Queueing and sending are `consentapp/services/campaign_sending.py`.
"""

from __future__ import annotations

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
    ConsentPurpose,
    OutboundEmail,
    OutboundStatus,
    StaffUser,
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


CHANGED_SINCE_READ = N_(
    "the newsletter was changed after you opened it: read it again, then send it"
)
EDITABLE_STATUSES = (CampaignStatus.DRAFT, CampaignStatus.SUBMITTED)


def require_permission(actor: StaffUser | ApiToken | None, permission: Permission) -> None:
    """Staff accounts need the permission, API tokens the `admin` scope; no actor is the
    operator's command line."""
    if isinstance(actor, ApiToken):
        if ApiScope.ADMIN not in actor.scope_set:
            raise CampaignError(N_("only a token with the admin scope can do this"))
    elif actor is not None and not allows(actor, permission):
        raise CampaignError(N_("only an admin can do this"))


def check_step(
    campaign: Campaign,
    actor: StaffUser | ApiToken | None,
    permission: Permission,
    from_statuses: tuple[str, ...],
    refusal: str,
) -> None:
    """Every step's two checks, in this order: the actor may take it, and the campaign
    is in a status the step starts from (else `refusal`)."""
    require_permission(actor, permission)
    _lock(campaign)
    if campaign.status not in from_statuses:
        raise CampaignError(refusal)


def _lock(campaign: Campaign) -> None:
    """Take the campaign row's lock (SQLite: the write lock) and read it fresh, so a
    step checks the state it changes: an edit and an approval, or two steps, arriving
    together are taken one after the other."""
    db.session.execute(
        sa.update(Campaign).where(Campaign.id == campaign.id).values(status=Campaign.status),
        execution_options={"synchronize_session": False},
    )
    db.session.refresh(campaign)


def submit(campaign: Campaign, actor: StaffUser) -> None:
    """Staff ask an admin to approve a draft and send it. Commits."""
    check_step(
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
    check_step(
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


def schedule(
    campaign: Campaign,
    at: datetime | None,
    actor: StaffUser | ApiToken | None,
    read: str | None = None,
) -> None:
    """An admin, a token with the `admin` scope, or the operator's command (`actor`
    None) sends now (`at` empty) or at a time: that is the approval. With `read` (the
    fingerprint of the text the admin read) a text changed since is refused. Commits."""
    check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_SEND,
        (CampaignStatus.DRAFT, CampaignStatus.SUBMITTED),
        N_("only a draft can be scheduled"),
    )
    if read is not None and read != campaign.revision:
        raise CampaignError(CHANGED_SINCE_READ)
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
            "revision": campaign.revision,
        },
        actor=actor,
    )
    db.session.commit()


def pause(campaign: Campaign, actor: StaffUser | None, reason: str = "paused by staff") -> None:
    """Hold the campaign: queued messages wait. Commits."""
    check_step(
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
    check_step(
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
    _lock(campaign)
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
    return CampaignReport(
        by_status={str(k): int(v) for k, v in by_status.items()},
        failures=failures,
        unsubscribes=unsubscribes_from(campaign),
    )


def unsubscribes_from(campaign: Campaign) -> int:
    """Withdrawals through this campaign's own unsubscribe links (its id in the
    ledger row), read through the ledger's (purpose, action, time) index."""
    withdrawn = db.session.execute(
        sa.select(ConsentEvent.subject_id, ConsentEvent.details).where(
            ConsentEvent.purpose == ConsentPurpose.NEWSLETTER,
            ConsentEvent.action == ConsentAction.WITHDRAWN,
            ConsentEvent.occurred_at >= (campaign.started_at or campaign.created_at),
            ConsentEvent.topic_id.in_(campaign.topic_ids),
        )
    )
    # One person leaving two of the campaign's topics with one click is one unsubscribe.
    return len(
        {contact for contact, d in withdrawn if d and d.get("campaign") == campaign.public_id}
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
