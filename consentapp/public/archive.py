"""The public newsletter archive and its Atom feeds: the same for every visitor, with
nothing personal in them (which campaigns show: `consentapp/services/archive.py`)."""

from __future__ import annotations

from flask import Response, abort, current_app, render_template
from flask_babel import gettext as _

from consentapp.i18n import current_language
from consentapp.links import external_url
from consentapp.models import Campaign, Topic
from consentapp.public import bp
from consentapp.services import archive
from consentapp.services.campaign_sending import render_body

ATOM_TYPE = "application/atom+xml"


@bp.get("/archive")
def archive_index() -> str:
    """Every published newsletter, per topic, newest first."""
    return render_template(
        "public/archive.html", sections=archive.archive_sections(current_language())
    )


def _topic_or_404(slug: str) -> Topic:
    topic = archive.find_topic(slug) if len(slug) <= 64 else None
    if topic is None:
        abort(404)
    return topic


@bp.get("/archive/<topic>/<public_id>")
def archive_entry(topic: str, public_id: str) -> str:
    """One published newsletter, without anyone's links: a subscribe link instead."""
    found = _topic_or_404(topic)
    campaign = archive.find_published(found, public_id) if len(public_id) <= 32 else None
    if campaign is None:
        abort(404)
    language = current_language()
    return render_template(
        "public/archive_entry.html",
        topic=found,
        campaign=campaign,
        subject=campaign.subject(language),
        body=render_body(campaign.body(language))[0],
        published=archive.published_at(campaign),
    )


@bp.get("/archive/<topic>.atom")
def archive_feed(topic: str) -> Response:
    """The topic's Atom feed; a topic with nothing published yet gets an empty feed."""
    found = _topic_or_404(topic)
    language = current_language()
    entries = [
        _feed_entry(found, campaign, language) for campaign in archive.latest_published(found)
    ]
    document = archive.atom_feed(
        feed_id=external_url("public.archive_feed", topic=found.slug),
        title=_(
            "%(org)s: %(topic)s", org=current_app.config["ORG_NAME"], topic=found.label(language)
        ),
        author=str(current_app.config["ORG_NAME"]),
        self_link=external_url("public.archive_feed", topic=found.slug),
        page_link=external_url("public.archive_index") + f"#{found.slug}",
        entries=entries,
    )
    return Response(document, mimetype=ATOM_TYPE)


def _feed_entry(topic: Topic, campaign: Campaign, language: str) -> archive.FeedEntry:
    permalink = external_url("public.archive_entry", topic=topic.slug, public_id=campaign.public_id)
    return archive.FeedEntry(
        id=permalink,
        title=campaign.subject(language),
        link=permalink,
        updated=archive.published_at(campaign),
        html=str(render_body(campaign.body(language))[0]),
    )
