"""`flask --app wsgi ...` commands: seed, worker, mail-sink, publish-notice."""

from __future__ import annotations

import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from consentapp.extensions import db
from consentapp.models import Topic
from consentapp.services import notices

TOPICS = [
    {
        "slug": "product-updates",
        "label_nl": "Productupdates",
        "label_en": "Product updates",
        "description_nl": "Nieuwe versies en belangrijke wijzigingen aan de software en "
        "hardware die u bij ons afneemt.",
        "description_en": "New releases and important changes to the software and hardware "
        "you use from us.",
    },
    {
        "slug": "service-news",
        "label_nl": "Nieuws over onze diensten",
        "label_en": "Service news",
        "description_nl": "Onderhoud, storingen en wijzigingen aan hosting, domeinnamen en "
        "Office 365.",
        "description_en": "Maintenance, outages and changes to hosting, domain names and "
        "Office 365.",
    },
    {
        "slug": "company-news",
        "label_nl": "Bedrijfsnieuws",
        "label_en": "Company news",
        "description_nl": "Nieuws over ons bedrijf en onze werking.",
        "description_en": "News about our company and the way we work.",
    },
]


def seed_topics() -> int:
    """Add the standard topics that are missing; returns how many were added."""
    existing = set(db.session.scalars(sa.select(Topic.slug)))
    added = 0
    for position, spec in enumerate(TOPICS):
        if spec["slug"] not in existing:
            db.session.add(Topic(position=position, **spec))
            added += 1
    return added


def seed_notice() -> bool:
    """Publish version 1 of the notice from our template if none exists yet."""
    if notices.latest_version() is not None:
        return False
    notices.publish_notice(
        {language: notices.render_notice_template(language) for language in ("nl", "en")}
    )
    return True


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add what a first run needs (topics, first privacy notice). Safe to run again."""
    topics_added = seed_topics()
    notice_added = seed_notice()
    db.session.commit()
    click.echo(f"Topics added: {topics_added}.")
    click.echo(
        "Privacy notice version 1 published."
        if notice_added
        else f"Privacy notice already published (version {notices.latest_version()})."
    )


@click.command("publish-notice")
@with_appcontext
@click.option("--nl", "nl_file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--en", "en_file", type=click.Path(exists=True, dir_okay=False), required=True)
def publish_notice_command(nl_file: str, en_file: str) -> None:
    """Publish a new privacy-notice version from two Markdown files (first line: # Title)."""
    texts = {}
    for language, path in (("nl", nl_file), ("en", en_file)):
        text = Path(path).read_text(encoding="utf-8").strip() + "\n"
        title = text.partition("\n")[0].lstrip("# ").strip()
        if not title:
            raise click.UsageError(f"{path}: the first line must be the title (# Title).")
        texts[language] = (title, text)
    rows = notices.publish_notice(texts)
    db.session.commit()
    click.echo(f"Privacy notice version {rows[0].version} published.")


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Run one pass and exit (for cron or scripts).")
def worker_command(once: bool) -> None:
    """Deliver the outbox and run periodic jobs until stopped (no broker needed)."""
    from consentapp.worker import run_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"Worker started: mail via {app.config['MAIL_SERVER']}:{app.config['MAIL_PORT']}.")
    run_worker(app, once=once)


@click.command("purge-unconfirmed")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Age in days (default: UNCONFIRMED_RETENTION_DAYS).",
)
@with_appcontext
def purge_unconfirmed_command(days: int | None) -> None:
    """Remove sign-ups never confirmed in time, with their personal data."""
    from datetime import timedelta

    from consentapp.services.subscriptions import purge_unconfirmed

    age = timedelta(days=days) if days is not None else None
    removed = purge_unconfirmed(age)
    click.echo(f"Unconfirmed sign-ups removed: {removed} contact(s).")


@click.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
def mail_sink_command(host: str, port: int) -> None:
    """A local SMTP server that prints every mail it receives (development only)."""
    from consentapp.mail.sink import MailSink, print_message, start_sink

    controller = start_sink(host, port, MailSink(on_message=print_message))
    click.echo(f"Mail sink listening on {host}:{port}; every mail is shown here.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


def init_app(app: Flask) -> None:
    """Register the commands on the app."""
    for command in (
        seed_command,
        publish_notice_command,
        worker_command,
        purge_unconfirmed_command,
        mail_sink_command,
    ):
        app.cli.add_command(command)
