"""Campaigns, read only: the list, and one with its report figures."""

from __future__ import annotations

from spectree import Response

from consentapp.api import bp, spec
from consentapp.api.access import requires
from consentapp.api.pagination import decode_cursor, encode_cursor
from consentapp.api.routes import REFUSALS
from consentapp.api.schemas import (
    CampaignDetail,
    CampaignFigures,
    CampaignList,
    CampaignOut,
    ListQuery,
    Problem,
)
from consentapp.models import ApiScope
from consentapp.problems import ApiProblem
from consentapp.services import api_data
from consentapp.services.campaigns import report


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
