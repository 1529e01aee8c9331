"""Campaigns: the list, one with its report figures; with the `admin` scope, writing a
draft and scheduling it (the approval)."""

from __future__ import annotations

from datetime import UTC

from spectree import Response

from consentapp.api import bp, spec
from consentapp.api.access import current_token, requires
from consentapp.api.pagination import decode_cursor, encode_cursor
from consentapp.api.routes import REFUSALS, field_problem
from consentapp.api.schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignFigures,
    CampaignList,
    CampaignOut,
    CampaignSchedule,
    ListQuery,
    Problem,
)
from consentapp.models import ApiScope
from consentapp.problems import ApiProblem
from consentapp.services import api_data
from consentapp.services.campaign_audience import AudienceChoice
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.campaigns import CampaignError, report, schedule
from consentapp.services.topics import UnknownTopic, topics_by_slug


@bp.get("/campaigns")
@requires(ApiScope.CAMPAIGNS_READ)
@spec.validate(
    query=ListQuery, resp=Response(HTTP_200=CampaignList, **REFUSALS), tags=["campaigns"]
)
def list_campaigns(query: ListQuery) -> CampaignList:
    """Campaigns, newest first."""
    page = api_data.campaign_page(decode_cursor(query.cursor), query.limit)
    return CampaignList(
        items=[CampaignOut.of(campaign) for campaign in page.items],
        next_cursor=encode_cursor(page.after),
    )


@bp.get("/campaigns/<public_id>")
@requires(ApiScope.CAMPAIGNS_READ)
@spec.validate(
    resp=Response(HTTP_200=CampaignDetail, HTTP_404=Problem, **REFUSALS), tags=["campaigns"]
)
def read_campaign(public_id: str) -> CampaignDetail:
    """One campaign with its report: mails by status, failures by reason, unsubscribes."""
    campaign = api_data.campaign_by_id(public_id)
    if campaign is None:
        raise ApiProblem(404, "No campaign has this id.")
    figures = report(campaign)
    return CampaignDetail(
        **CampaignOut.of(campaign).model_dump(),
        report=CampaignFigures(
            by_status=figures.by_status,
            remaining=figures.remaining,
            failures=dict(figures.failures),
            unsubscribes=figures.unsubscribes,
        ),
    )


@bp.post("/campaigns")
@requires(ApiScope.ADMIN)
@spec.validate(
    json=CampaignCreate,
    resp=Response(HTTP_201=CampaignOut, HTTP_415=Problem, **REFUSALS),
    tags=["campaigns"],
)
def create_campaign_draft(json: CampaignCreate) -> tuple[CampaignOut, int]:
    """Write a newsletter draft for a topic (and optionally more: each person gets it
    once), in Dutch and (optionally) English Markdown, optionally only for one language's
    subscribers or for customers. Nothing is sent until it is scheduled."""
    try:
        (topic,) = topics_by_slug([json.topic])
    except UnknownTopic:
        raise field_problem("topic", "unknown topic") from None
    try:
        more = topics_by_slug(json.more_topics)
    except UnknownTopic:
        raise field_problem("more_topics", "unknown topic") from None
    choice = AudienceChoice((topic, *more), json.language, json.customers_only)
    try:
        campaign = create_campaign(
            choice, json.subject_nl, json.body_nl, json.subject_en, json.body_en, current_token()
        )
    except CampaignError as error:
        raise ApiProblem(422, f"The draft is not saved: {error}.") from None
    return CampaignOut.of(campaign), 201


@bp.post("/campaigns/<public_id>/schedule")
@requires(ApiScope.ADMIN)
@spec.validate(
    json=CampaignSchedule,
    resp=Response(
        HTTP_200=CampaignOut, HTTP_404=Problem, HTTP_409=Problem, HTTP_415=Problem, **REFUSALS
    ),
    tags=["campaigns"],
)
def schedule_campaign(public_id: str, json: CampaignSchedule) -> CampaignOut:
    """Approve a draft (or one waiting for approval) and send it at `at`, or now.
    409 when the campaign is past that step."""
    campaign = api_data.campaign_by_id(public_id)
    if campaign is None:
        raise ApiProblem(404, "No campaign has this id.")
    try:
        at = json.at.astimezone(UTC) if json.at is not None else None
    except OverflowError:
        raise field_problem("at", "out of range") from None
    try:
        schedule(campaign, at, current_token())
    except CampaignError as error:
        raise ApiProblem(409, f"The campaign is not scheduled: {error}.") from None
    return CampaignOut.of(campaign)
