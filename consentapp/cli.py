"""`flask --app wsgi ...` commands: seed, worker, mail-sink, bounce-server,
bounce-mailbox, publish-notice, and the `staff` and `audit` groups (their older
one-word names stay as aliases)."""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from consentapp.extensions import db
from consentapp.seed import seed_notice, seed_topics
from consentapp.services import notices

log = logging.getLogger(__name__)


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Add what a first run needs (topics, first privacy notice, record of processing).
    Safe to run again."""
    from consentapp.services.register import seed_register

    topics_added = seed_topics()
    activities_added = seed_register()
    notice_added = seed_notice()
    db.session.commit()
    click.echo(f"Topics added: {topics_added}.")
    click.echo(f"Processing activities added: {activities_added}.")
    click.echo(
        "Privacy notice version 1 published."
        if notice_added
        else f"Privacy notice already published (version {notices.latest_version()})."
    )


@click.command("publish-notice")
@with_appcontext
@click.option("--nl", "nl_file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--en", "en_file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option(
    "--purposes-changed",
    is_flag=True,
    help="The purposes changed: the staff notice page offers to ask subscribers again.",
)
def publish_notice_command(nl_file: str, en_file: str, purposes_changed: bool) -> None:
    """Publish a new privacy-notice version from two Markdown files (first line: # Title)."""
    texts = {}
    for language, path in (("nl", nl_file), ("en", en_file)):
        text = notices.normalise_notice_text(Path(path).read_text(encoding="utf-8"))
        title = notices.notice_title(text)
        if not title:
            raise click.UsageError(f"{path}: the first line must be the title (# Title).")
        texts[language] = (title, text)
    rows = notices.publish_notice(texts, purposes_changed=purposes_changed)
    db.session.commit()
    click.echo(f"Privacy notice version {rows[0].version} published.")


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Run one pass and exit (for cron or scripts).")
def worker_command(once: bool) -> None:
    """Deliver the outbox and run periodic jobs until stopped (no broker needed)."""
    from consentapp.worker import run_worker

    # What each pass did, on stderr, unless the operator configured logging already.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
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

    from consentapp.services.retention import purge_unconfirmed

    age = timedelta(days=days) if days is not None else None
    removed = purge_unconfirmed(age)
    click.echo(f"Unconfirmed sign-ups removed: {removed} contact(s).")


@click.group("staff")
def staff_group() -> None:
    """Staff accounts from the command line: create, unlock, bootstrap-admin."""


@click.group("audit")
def audit_group() -> None:
    """The audit log: verify its hash chain, fingerprint a search text."""


@staff_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "staff"]), required=True)
@click.option("--name", default="", help="Full name shown in lists and the audit log.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_staff_command(email: str, role: str, name: str, password_stdin: bool) -> None:
    """Create a staff account (password from a prompt, or stdin with --password-stdin)."""
    from consentapp.services.staff_accounts import AccountError, create_staff

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_staff(email, role, password, name)
    except (AccountError, ValueError) as exc:
        db.session.rollback()
        raise click.ClickException(str(getattr(exc, "message", exc))) from exc
    db.session.commit()
    click.echo(f"Created {user.role} account {user.email}.")


@staff_group.command("unlock")
@click.argument("email")
@with_appcontext
def unlock_staff_command(email: str) -> None:
    """Lift a lockout from the command line (when every admin is locked out)."""
    from consentapp.services.staff_accounts import find_staff, unlock

    user = find_staff(email)
    if user is None:
        raise click.ClickException(f"No staff account {email}.")
    unlock(user, None)
    click.echo(f"Unlocked {user.email}.")


@staff_group.command("bootstrap-admin")
@with_appcontext
def bootstrap_admin_command() -> None:
    """Development: on a database without staff, create an admin and print how to log in."""
    import secrets

    from consentapp.models import StaffUser
    from consentapp.services.staff_accounts import create_staff

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["ENV_NAME"] == "production":
        raise click.ClickException("bootstrap-admin is for development; use create-staff.")
    saved = Path(app.instance_path) / "dev-admin-login"
    if db.session.scalar(sa.select(sa.func.count(StaffUser.id))) == 0:
        email = "admin@example.com"
        password = secrets.token_urlsafe(12)
        create_staff(email, "admin", password, "Admin")
        db.session.commit()
        saved.write_text(f"{email}\n{password}\n")
        saved.chmod(0o600)
    if saved.exists():
        email, password = saved.read_text().split()[:2]
        click.echo(f"Staff login: {app.config['BASE_URL']}/staff/login  {email} / {password}")
    else:
        click.echo("Staff accounts exist already; log in with yours.")


@audit_group.command("fingerprint")
@click.argument("text")
@with_appcontext
def audit_fingerprint_command(text: str) -> None:
    """Print the fingerprint the audit log keeps for a text staff typed (a search)."""
    from consentapp.keyring import fingerprint

    click.echo(fingerprint(text))


@audit_group.command("verify")
@with_appcontext
def audit_verify_command() -> None:
    """Check the audit log's hash chain; name the first broken entry (exit 1 if any)."""
    from consentapp.services.audit import verify_chain

    report = verify_chain()
    if report.ok:
        click.echo(f"Audit log intact: {report.checked} entries. Head hash: {report.head_hash}")
        return
    click.echo(
        f"Audit log BROKEN at entry {report.broken_id}: {report.problem} "
        f"({report.checked} entries before it are intact).",
        err=True,
    )
    raise SystemExit(1)


@click.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8025, show_default=True, type=int)
@click.option(
    "--refuse",
    multiple=True,
    envvar="MAIL_SINK_REFUSE",
    help="Refuse this recipient with 550, as a server refuses an unknown user (repeatable; "
    "MAIL_SINK_REFUSE takes a space-separated list).",
)
@click.option(
    "--mailbox-url",
    default="http://127.0.0.1:5000/dev/mail",
    show_default=True,
    help="Where the development site shows the mails (printed with each one).",
)
@with_appcontext
def mail_sink_command(host: str, port: int, refuse: tuple[str, ...], mailbox_url: str) -> None:
    """A local SMTP server that keeps every mail it receives for the development mailbox
    page and prints one line per mail (development only)."""
    from consentapp.mail.sink import MailSink, MailStore, start_sink, store_and_announce

    store = MailStore(Path(current_app.instance_path) / "dev-mail")
    handler = MailSink(on_message=store_and_announce(store, mailbox_url), refuse=refuse)
    controller = start_sink(host, port, handler)
    click.echo(f"Mail sink listening on {host}:{port}; read the mails at {mailbox_url}")
    if refuse:
        click.echo(f"Refusing mail to: {', '.join(refuse)}")
    serve_until_stopped(controller.stop)


def report_receiver(app: Flask) -> Callable[[bytes, list[str]], None]:
    """The bounce server's callback: store the report (committed, so the 250 is safe),
    then read it at once, each in an app context of its own."""
    from consentapp.services.bounces import receive_and_process

    def on_report(body: bytes, recipients: list[str]) -> None:
        with app.app_context():
            try:
                outcome = receive_and_process("smtp", body, recipients)
                log.info("bounce report to %r: %s", recipients, outcome)
            finally:
                db.session.remove()

    return on_report


@click.command("bounce-server")
@click.option("--host", default=None, help="Address to listen on [BOUNCE_SERVER_HOST].")
@click.option("--port", default=None, type=int, help="Port to listen on [BOUNCE_SERVER_PORT].")
@with_appcontext
def bounce_server_command(host: str | None, port: int | None) -> None:
    """The SMTP server for BOUNCE_DOMAIN's MX: reads each bounce and complaint on arrival."""
    from consentapp.mail.bounce_server import start_bounce_server

    config = current_app.config
    domain = config["BOUNCE_DOMAIN"]
    if not domain:
        raise click.UsageError(
            "BOUNCE_DOMAIN is not set: the bounce server takes mail for that domain only."
        )
    host = host or config["BOUNCE_SERVER_HOST"]
    port = port or config["BOUNCE_SERVER_PORT"]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: every SMTP line
    try:
        server = start_bounce_server(
            host,
            port,
            domain,
            report_receiver(app),
            max_message_bytes=config["BOUNCE_MAX_MESSAGE_BYTES"],
        )
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    click.echo(f"Bounce server for {domain} listening on {host}:{port}.")
    signal.signal(signal.SIGTERM, _interrupt)
    serve_until_stopped(server.stop)


def serve_until_stopped(stop: Callable[[], object]) -> None:
    """Wait for Ctrl-C (or SIGTERM, where it is turned into one), then `stop`."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command("bounce-mailbox")
@with_appcontext
def bounce_mailbox_command() -> None:
    """Read the bounce mailbox (BOUNCE_MAILBOX_URL) once, then the queued reports."""
    from consentapp.mail.mailbox import MailboxError
    from consentapp.services.bounce_mailbox import read_mailbox

    if not current_app.config["BOUNCE_MAILBOX_URL"]:
        raise click.UsageError(
            "BOUNCE_MAILBOX_URL is not set: give the mailbox bounces go to, as in "
            "imaps://user:password@mail.example.com/INBOX."
        )
    try:
        run = read_mailbox()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except MailboxError as exc:
        raise click.ClickException(f"bounce mailbox not read: {exc}") from exc
    click.echo(str(run))


def alias(name: str, canonical: str, command: click.Command) -> click.Command:
    """`command` under the name operators used before the groups; same code, same options."""
    return click.Command(
        name,
        callback=command.callback,
        params=command.params,
        help=f"Same as `{canonical}`: {command.help or ''}",
    )


# The older names: in DESIGN.md, the README and operators' scripts, so they stay.
ALIASES = (
    alias("create-staff", "staff create", create_staff_command),
    alias("unlock-staff", "staff unlock", unlock_staff_command),
    alias("bootstrap-admin", "staff bootstrap-admin", bootstrap_admin_command),
    alias("audit-verify", "audit verify", audit_verify_command),
    alias("audit-fingerprint", "audit fingerprint", audit_fingerprint_command),
)


def init_app(app: Flask) -> None:
    """Register the commands on the app."""
    for command in (
        seed_command,
        publish_notice_command,
        worker_command,
        purge_unconfirmed_command,
        staff_group,
        audit_group,
        mail_sink_command,
        bounce_server_command,
        bounce_mailbox_command,
        *ALIASES,
    ):
        app.cli.add_command(command)
