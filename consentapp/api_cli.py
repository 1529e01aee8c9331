"""`flask --app wsgi create-api-token` and `revoke-api-token`."""

from __future__ import annotations

import getpass

import click
from flask import Flask
from flask.cli import with_appcontext

from consentapp.services.api_tokens import (
    MAX_EXPIRES_DAYS,
    UnknownScope,
    issue_token,
    parse_scopes,
    revoke,
)


@click.command("create-api-token")
@click.argument("name")
@click.option("--scopes", required=True, help="Comma-separated, e.g. contacts:read,topics:read")
@click.option("--expires-days", type=click.IntRange(min=1, max=MAX_EXPIRES_DAYS), default=None)
@with_appcontext
def create_api_token_command(name: str, scopes: str, expires_days: int | None) -> None:
    """Create an API token; the token itself is printed once, on the last line."""
    try:
        chosen = parse_scopes([scopes])
    except UnknownScope as error:
        raise click.BadParameter(f"unknown scope {error}", param_hint="--scopes") from None
    if not chosen:
        raise click.BadParameter("name at least one scope", param_hint="--scopes")
    if not name.strip():
        raise click.BadParameter("give the token a name", param_hint="NAME")
    issued = issue_token(name, chosen, f"command line ({getpass.getuser()})", expires_days)
    expiry = issued.token.expires_at.isoformat() if issued.token.expires_at else "never"
    click.echo(f"Token {issued.token.prefix} ({issued.token.name}) scopes: {issued.token.scopes}")
    click.echo(f"Expires: {expiry}. It is shown only now; store it safely.")
    click.echo(issued.secret)


@click.command("revoke-api-token")
@click.argument("prefix")
@with_appcontext
def revoke_api_token_command(prefix: str) -> None:
    """Revoke the API token with this prefix (shown in lists and the audit log)."""
    if not revoke(prefix, f"command line ({getpass.getuser()})"):
        raise click.ClickException(f"no live token with prefix {prefix}")
    click.echo(f"Token {prefix} revoked.")


def init_app(app: Flask) -> None:
    app.cli.add_command(create_api_token_command)
    app.cli.add_command(revoke_api_token_command)
