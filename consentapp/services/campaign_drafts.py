"""Writing a newsletter campaign: the draft, and changes to it until it is scheduled.

The steps that follow (approval, pause, cancel) and the report are
`consentapp/services/campaigns.py`.
"""

from __future__ import annotations

from consentapp.extensions import db
from consentapp.models import ApiToken, Campaign, CampaignStatus, StaffUser, Topic
from consentapp.permissions import Permission
from consentapp.services import audit
from consentapp.services.campaigns import (
    EDITABLE_STATUSES,
    N_,
    CampaignError,
    check_step,
    require_permission,
)

TOO_LATE = N_("only a newsletter that is not scheduled yet can be changed")


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
        body_nl=_lines(body_nl),
        subject_en=subject_en.strip(),
        body_en=_lines(body_en),
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
    """Change a campaign not yet scheduled. One waiting for approval goes back to draft
    and must be submitted again, so what an admin approves is always what was submitted.
    Audited with the fields changed (returned) and the new fingerprint; nothing
    changed is no change. Commits."""
    check_step(
        campaign,
        actor,
        Permission.CAMPAIGN_WRITE,
        EDITABLE_STATUSES,
        TOO_LATE,
    )
    _check_texts(subject_nl, body_nl, subject_en)
    wanted = {
        "topic_id": topic.id,
        "subject_nl": subject_nl.strip(),
        "body_nl": _lines(body_nl),
        "subject_en": subject_en.strip(),
        "body_en": _lines(body_en),
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
        details={"fields": fields, "revision": campaign.revision},
        actor=actor,
    )
    if campaign.status == CampaignStatus.SUBMITTED:
        campaign.status = CampaignStatus.DRAFT
        campaign.submitted_by_id = None
        audit.record(
            "campaign.withdraw", target_type="campaign", target_id=campaign.public_id, actor=actor
        )
    db.session.commit()
    return fields


def _lines(text: str) -> str:
    """Line ends as one newline each: a browser sends CRLF, scripts send LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
