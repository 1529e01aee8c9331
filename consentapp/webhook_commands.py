"""`flask --app wsgi add-webhook URL --events E1,E2,... [--personal]`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from consentapp.services.outgoing_webhooks import EVENTS, WebhookError, add_endpoint


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


def init_app(app: Flask) -> None:
    """Register the command on the app."""
    app.cli.add_command(add_webhook_command)
