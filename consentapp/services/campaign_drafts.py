"""Writing a newsletter campaign: the draft, and changes to it until it is scheduled.

The steps that follow (approval, pause, cancel) and the report are
`consentapp/services/campaigns.py`.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from consentapp.extensions import db
from consentapp.models import ApiToken, Campaign, CampaignStatus, StaffUser, Topic
from consentapp.permissions import Permission
from consentapp.services import audit
from consentapp.services.campaign_audience import AudienceChoice
from consentapp.services.campaigns import (
    EDITABLE_STATUSES,
    N_,
    CampaignError,
    check_step,
    require_permission,
)

TOO_LATE = N_("only a newsletter that is not scheduled yet can be changed")
# How the audit row names a changed part of the audience.
_FIELD_NAMES = {"topic_id": "topic", "topic_ids": "topics", "audience_language": "language"}


def create_campaign(
    audience: Topic | AudienceChoice,
    subject_nl: str,
    body_nl: str,
    subject_en: str,
    body_en: str,
    actor: StaffUser | ApiToken | None,
) -> Campaign:
    """A draft (audited) for `audience`: a topic's subscribers, or a wider or narrower
    choice. Commits."""
    require_permission(actor, Permission.CAMPAIGN_WRITE)
    _check_texts(subject_nl, body_nl, subject_en)
    choice = _checked(audience)
    campaign = Campaign(
        topic=choice.topics[0],
        topics=list(choice.topics),
        audience_language=choice.language,
        customers_only=choice.customers_only,
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
        details=_audience_details(choice),
        actor=actor,
    )
    db.session.commit()
    return campaign


def _checked(audience: Topic | AudienceChoice) -> AudienceChoice:
    """The choice with each topic once (the main one first); refused without a topic or
    with a language we do not write in."""
    choice = audience if isinstance(audience, AudienceChoice) else AudienceChoice((audience,))
    if not choice.topics:
        raise CampaignError(N_("choose at least one newsletter"))
    main, *more = {topic.id: topic for topic in choice.topics}.values()
    topics = (main, *sorted(more, key=lambda topic: topic.id))  # as a campaign lists them
    language = choice.language or None
    if language is not None and language not in current_app.config["LANGUAGES"]:
        raise CampaignError(N_("the audience's language is not one we write in"))
    return AudienceChoice(topics, language, choice.customers_only)


def _audience_details(choice: AudienceChoice) -> dict[str, Any]:
    """What the audit row says about the audience (only the parts that were chosen)."""
    details: dict[str, Any] = {"topic": choice.topics[0].slug}
    if len(choice.topics) > 1:
        details["topics"] = [topic.slug for topic in choice.topics]
    if choice.language:
        details["language"] = choice.language
    if choice.customers_only:
        details["customers_only"] = True
    return details


def _check_texts(subject_nl: str, body_nl: str, subject_en: str) -> None:
    for subject in (subject_nl, subject_en):
        if "\r" in subject or "\n" in subject:
            raise CampaignError(N_("a subject is a single line"))
    if not subject_nl.strip() or not body_nl.strip():
        raise CampaignError(N_("the Dutch subject and text are required"))


def edit_campaign(
    campaign: Campaign,
    audience: Topic | AudienceChoice,
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
    choice = _checked(audience)
    wanted: dict[str, Any] = {
        "topic_id": choice.topics[0].id,
        "topic_ids": choice.topic_ids,
        "audience_language": choice.language,
        "customers_only": choice.customers_only,
        "subject_nl": subject_nl.strip(),
        "body_nl": _lines(body_nl),
        "subject_en": subject_en.strip(),
        "body_en": _lines(body_en),
    }
    changed = [name for name, value in wanted.items() if getattr(campaign, name) != value]
    if not changed:
        return []
    for name in set(changed) - {"topic_ids"}:
        setattr(campaign, name, wanted[name])
    # The key and the relationships together: the fingerprint reads them before a flush.
    campaign.topic, campaign.topics = choice.topics[0], list(choice.topics)
    fields = [_FIELD_NAMES.get(name, name) for name in changed]
    details: dict[str, Any] = {"fields": fields, "revision": campaign.revision}
    if {"topic_id", "topic_ids", "audience_language", "customers_only"} & set(changed):
        details |= _audience_details(choice)  # the audience as it is now
    audit.record(
        "campaign.edit",
        target_type="campaign",
        target_id=campaign.public_id,
        details=details,
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
