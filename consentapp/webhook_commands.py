"""Outgoing webhooks on the command line:

flask --app wsgi add-webhook URL --events E1,E2,... [--personal]
flask --app wsgi list-webhooks
flask --app wsgi remove-webhook ID
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from consentapp.extensions import db
from consentapp.models import WebhookEndpoint
from consentapp.services.outgoing_webhooks import EVENTS, WebhookError, add_endpoint, endpoints
from consentapp.services.webhook_admin import delete_endpoint, pending_count


@click.command("add-webhook")
@click.argument("url")
@click.option("--events", required=True, help=f"Comma-separated, from: {', '.join(EVENTS)}.")
@click.option("--personal", is_flag=True, help="Include e-mail and name in the payloads.")
@with_appcontext
def add_webhook_command(url: str, events: str, personal: bool) -> None:
    """Register an outgoing webhook endpoint; print its signing secret on the last line
    (shown once: keep it in the receiver's configuration)."""
    try:
        endpoint, secret = add_endpoint(url, events, include_personal=personal)
    except WebhookError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"Endpoint {endpoint.public_id} for {', '.join(endpoint.events)}.")
    click.echo("Signing secret (shown once):")
    click.echo(secret)


@click.command("list-webhooks")
@with_appcontext
def list_webhooks_command() -> None:
    """The endpoints, newest first: id, state, personal fields, waiting deliveries, URL
    and events, one per line (tab-separated). Secrets are never shown."""
    found = endpoints()
    if not found:
        click.echo("No webhook endpoints.")
        return
    for endpoint in found:
        state = "active" if endpoint.active else "off"
        personal = "personal" if endpoint.include_personal else "ids-only"
        click.echo(
            f"{endpoint.public_id}\t{state}\t{personal}\t{pending_count(endpoint)} waiting"
            f"\t{endpoint.url}\t{','.join(endpoint.events)}"
        )


@click.command("remove-webhook")
@click.argument("endpoint_id")
@with_appcontext
def remove_webhook_command(endpoint_id: str) -> None:
    """Remove the endpoint ENDPOINT_ID (as `list-webhooks` shows it) with its delivery
    log; deliveries not yet sent are dropped."""
    endpoint = db.session.scalar(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.public_id == endpoint_id.strip())
    )
    if endpoint is None:
        raise click.BadParameter(
            "no webhook endpoint has this id (see list-webhooks)", param_hint="ID"
        )
    url = endpoint.url
    dropped = delete_endpoint(endpoint, actor_label="command line")
    click.echo(f"Removed the endpoint for {url}; {dropped} waiting deliveries dropped.")


def init_app(app: Flask) -> None:
    """Register the commands on the app."""
    app.cli.add_command(add_webhook_command)
    app.cli.add_command(list_webhooks_command)
    app.cli.add_command(remove_webhook_command)
