"""`flask --app wsgi send-campaign`: a newsletter from Markdown files, queued for its
audience (one topic's subscribers or several topics', each person once)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from consentapp.models import Topic
from consentapp.services.archive import set_in_archive
from consentapp.services.campaign_audience import AudienceChoice, audience
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.campaigns import CampaignError, schedule
from consentapp.services.topics import UnknownTopic, topics_by_slug


@click.command("send-campaign")
@click.option(
    "--topic",
    "topic_slugs",
    required=True,
    multiple=True,
    help="A topic whose subscribers get it; repeat it for several (each person gets it "
    "once). The first names the mail.",
)
@click.option("--subject", required=True, help="Dutch subject.")
@click.option("--body", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--subject-en", default="", help="English subject (else the Dutch one).")
@click.option("--body-en", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--at", "at", default=None, help="ISO time to send (UTC unless it has an offset).")
@click.option("--archive", is_flag=True, help="Publish it in the public archive once sent.")
@click.option(
    "--language",
    type=click.Choice(["nl", "en"]),
    default=None,
    help="Only the subscribers who read this language.",
)
@click.option(
    "--customers-only",
    is_flag=True,
    help="Only customers: contacts with an invoice or a signed agreement.",
)
@with_appcontext
def send_campaign_command(
    topic_slugs: tuple[str, ...],
    subject: str,
    body: str,
    subject_en: str,
    body_en: str | None,
    at: str | None,
    archive: bool,
    language: str | None,
    customers_only: bool,
) -> None:
    """Create a newsletter from Markdown files, queue it, and print its id (the number of
    people it goes to on stderr)."""
    choice = AudienceChoice(_topics(topic_slugs), language, customers_only)
    when = _when(at)
    text_en = Path(body_en).read_text(encoding="utf-8") if body_en else ""
    try:
        campaign = create_campaign(
            choice, subject, Path(body).read_text(encoding="utf-8"), subject_en, text_en, None
        )
        size = audience(campaign).total
        set_in_archive(campaign, archive, None)  # without --archive: nothing to do
        schedule(campaign, when, None)
    except CampaignError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Goes to {size} {'person' if size == 1 else 'people'} now.", err=True)
    click.echo(campaign.public_id)


def _topics(slugs: tuple[str, ...]) -> tuple[Topic, ...]:
    """The active topics named, in the order given (repeats once)."""
    try:
        found = {topic.slug: topic for topic in topics_by_slug(slugs)}
    except UnknownTopic as exc:
        raise click.UsageError(f"No topic {exc}.") from exc
    return tuple(found[slug] for slug in dict.fromkeys(slugs))


def _when(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        when = datetime.fromisoformat(at)
    except ValueError as exc:
        raise click.UsageError(f"--at: not an ISO time: {at!r}") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def init_app(app: Flask) -> None:
    app.cli.add_command(send_campaign_command)
