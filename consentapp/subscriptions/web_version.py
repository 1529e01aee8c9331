"""A newsletter's web version: the "view in browser" link of a campaign mail opens the
mail as that person got it, with the same footer links. The blueprint marks every
answer `no-store`; the page sets no cookie and asks search engines to stay away."""

from __future__ import annotations

from flask import Response, make_response, render_template
from flask_babel import force_locale

from consentapp.links import preferences_url, unsubscribe_url
from consentapp.services.campaign_audience import topics_reached
from consentapp.services.campaign_sending import render_body
from consentapp.services.topics import topic_names
from consentapp.services.web_version import WebVersion, read_web_version
from consentapp.subscriptions import bp


@bp.get("/newsletter/<token>")
def web_version(token: str) -> Response:
    """The campaign in the contact's language; a bad or dead link gets the link page."""
    opened = read_web_version(token)
    with force_locale(opened.language):  # the whole page as the mail was: in the contact's language
        page = _render(opened)
    response = make_response(page)
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _render(opened: WebVersion) -> str:
    campaign, language = opened.campaign, opened.language
    # The topics that brought the mail, as now (all of them once none is left).
    reached = topics_reached(campaign, [opened.contact.id])[opened.contact.id]
    reached = reached or campaign.all_topics
    return render_template(
        "subscriptions/web_version.html",
        subject=campaign.subject(language),
        body=render_body(campaign.body(language))[0],
        topic=topic_names(reached, language),
        sent=campaign.started_at,
        unsubscribe_url=unsubscribe_url(
            opened.contact, [topic.slug for topic in reached], campaign=campaign.public_id
        ),
        preferences_url=preferences_url(opened.contact),
    )
