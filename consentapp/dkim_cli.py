"""`flask --app wsgi dkim-record`: the DNS records that publish the configured DKIM keys."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from consentapp.mail.dkim_sign import signer_for

TXT_STRING_MAX = 255  # one character-string of a TXT record; longer values are split


def zone_line(name: str, value: str) -> str:
    """A zone-file line; an RSA key is longer than one TXT string allows, so it is split
    into several, which the receivers join."""
    parts = [value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX)]
    return f"{name:<32}TXT  " + " ".join(f'"{part}"' for part in parts)


@click.command("dkim-record")
@with_appcontext
def dkim_record_command() -> None:
    """Print the TXT record of each configured DKIM key (Ed25519 first, then RSA)."""
    signer = signer_for(current_app.config)
    if signer is None:
        raise click.ClickException(
            "DKIM is not configured: set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_KEY_PATH"
        )
    for name, value in signer.dns_records():
        click.echo(zone_line(name, value))


def init_app(app: Flask) -> None:
    app.cli.add_command(dkim_record_command)
