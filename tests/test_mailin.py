"""Reports coming in end to end: a DSN sent to the bounce server, or left in a real
Dovecot mailbox for `flask bounce-mailbox`, marks the contact's address; a forged VERP
address changes nothing. Also the commands' messages and the periodic mailbox job."""

from __future__ import annotations

import logging
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.cli import report_receiver
from consentapp.extensions import db
from consentapp.mail.bounce_server import BounceServer, start_bounce_server
from consentapp.mail.verp import envelope_sender
from consentapp.models import IncomingReport
from consentapp.schedule import schedule
from consentapp.services.bounce_mailbox import poll_job
from tests.builders import BOUNCE_DOMAIN
from tests.flows import last_newsletter, send_campaign, subscriber
from tests.helpers import bounce_state, ledger
from tests.services import PROJECT_DIR, DovecotServer, SMTPServer, free_port, worker_env

DOMAIN = BOUNCE_DOMAIN
NL = "nl@example.be"
EN = "en@example.be"


@pytest.fixture
def bounce_server(verp_app: Flask) -> Iterator[BounceServer]:
    server = start_bounce_server(
        "127.0.0.1",
        free_port(),
        DOMAIN,
        report_receiver(verp_app),
        max_message_bytes=verp_app.config["BOUNCE_MAX_MESSAGE_BYTES"],
    )
    yield server
    server.stop()


def newsletter(app: Flask, address: str) -> tuple[str, str]:
    """The VERP address and the Message-ID of the last newsletter sent to `address`."""
    row_id, message_id = last_newsletter(app, address)
    with app.app_context():
        return envelope_sender(row_id, message_id, DOMAIN), message_id


def forged(verp: str) -> str:
    """The same outbox id with a signature that is not ours."""
    local, _, domain = verp.partition("@")
    return f"{local.rsplit('.', 1)[0]}.{'0' * 12}@{domain}"


def dsn(to: str, failed: str, message_id: str, number: int = 1) -> bytes:
    """An RFC 3464 delivery status notification as a receiving server sends it back."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.be>\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{number}@mx.example.be>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b0"\r\n'
        "\r\n"
        "--b0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "Your message could not be delivered to one or more recipients.\r\n"
        "--b0\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.be\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {failed}\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected\r\n"
        "--b0\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"Return-Path: <{to}>\r\n"
        "From: CRM <privacy@crm.example>\r\n"
        f"To: {failed}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: News\r\n"
        "--b0--\r\n"
    ).encode()


def queued(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(IncomingReport)) or 0


# The bounce server -----------------------------------------------------------------------


def test_a_dsn_at_the_bounce_server_marks_the_address_and_a_forged_one_nothing(
    verp_app: Flask, audience: None, bounce_server: BounceServer
) -> None:
    send_campaign(verp_app)
    nl_verp, nl_message_id = newsletter(verp_app, NL)
    en_verp, en_message_id = newsletter(verp_app, EN)
    with smtplib.SMTP("127.0.0.1", bounce_server.port, timeout=10) as client:
        assert client.sendmail("", [nl_verp], dsn(nl_verp, NL, nl_message_id)) == {}
        # Accepted like any report (a forger learns nothing), and dropped.
        bad = forged(en_verp)
        assert client.sendmail("", [bad], dsn(bad, EN, en_message_id, 2)) == {}
    assert bounce_state(verp_app, NL) == ("hard", ["hard"])
    assert bounce_state(verp_app, EN) == (None, [])
    assert queued(verp_app) == 0, "each report was read on arrival"


def test_a_report_that_cannot_be_read_now_is_still_kept(
    verp_app: Flask, bounce_server: BounceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the 250 is given the report is in the queue, even when reading it fails
    (it is read again by the periodic job)."""

    def broken(raw: bytes) -> None:
        raise RuntimeError("reading failed")

    monkeypatch.setattr("consentapp.services.bounces.parse_report", broken)
    with smtplib.SMTP("127.0.0.1", bounce_server.port, timeout=10) as client:
        client.sendmail("", [f"b+1.abc@{DOMAIN}"], b"Subject: report\r\n\r\nbody\r\n")
    assert queued(verp_app) == 1


def test_bounce_server_refuses_to_start_without_a_bounce_domain(app: Flask, runner: Any) -> None:
    app.config["BOUNCE_DOMAIN"] = None
    result = runner.invoke(args=["bounce-server"])
    assert result.exit_code == 2
    assert "BOUNCE_DOMAIN is not set" in result.output


@pytest.mark.slow
def test_flask_bounce_server_takes_reports_until_stopped(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    send_campaign(verp_app)
    nl_verp, nl_message_id = newsletter(verp_app, NL)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "bounce-server", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=worker_env(verp_app, smtp_server, BOUNCE_DOMAIN=DOMAIN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo("mx.example.be")
            client.mail("")
            assert client.rcpt("someone@crm.example")[0] == 550
            assert client.rcpt(nl_verp)[0] == 250
            assert client.data(dsn(nl_verp, NL, nl_message_id))[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert f"listening on 127.0.0.1:{port}" in out.decode()
    assert bounce_state(verp_app, NL) == ("hard", ["hard"])


# The bounce mailbox ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_bounce_mailbox_reads_dovecot_and_marks_the_address(
    verp_app: Flask,
    audience: None,
    dovecot: DovecotServer,
    runner: Any,
    scheme: str,
) -> None:
    send_campaign(verp_app)
    nl_verp, nl_message_id = newsletter(verp_app, NL)
    en_verp, en_message_id = newsletter(verp_app, EN)
    dovecot.deliver(dsn(nl_verp, NL, nl_message_id))
    dovecot.deliver(dsn(forged(en_verp), EN, en_message_id, 2))
    verp_app.config.update(
        BOUNCE_MAILBOX_URL=dovecot.url(scheme), BOUNCE_MAILBOX_CA_FILE=str(dovecot.ca_file)
    )
    result = runner.invoke(args=["bounce-mailbox"])
    assert result.exit_code == 0, result.output
    assert "2 message(s) taken in and removed" in result.output
    assert "2 queued report(s) read" in result.output
    assert DovecotServer.PASSWORDS["bounces"] not in result.output
    assert dovecot.messages() == []
    assert bounce_state(verp_app, NL) == ("hard", ["hard"])
    assert bounce_state(verp_app, EN) == (None, [])
    assert queued(verp_app) == 0


def test_bounce_mailbox_needs_a_mailbox_url(app: Flask, runner: Any) -> None:
    app.config["BOUNCE_MAILBOX_URL"] = None
    result = runner.invoke(args=["bounce-mailbox"])
    assert result.exit_code == 2
    assert "BOUNCE_MAILBOX_URL is not set" in result.output


def test_bounce_mailbox_says_what_is_wrong_with_the_url(app: Flask, runner: Any) -> None:
    app.config["BOUNCE_MAILBOX_URL"] = "https://user:hidden-word@mail.example/INBOX"
    result = runner.invoke(args=["bounce-mailbox"])
    assert result.exit_code == 2
    assert "must start with imaps://" in result.output
    assert "hidden-word" not in result.output


def test_bounce_mailbox_says_when_the_server_cannot_be_reached(app: Flask, runner: Any) -> None:
    app.config["BOUNCE_MAILBOX_URL"] = f"imap://user:hidden-word@127.0.0.1:{free_port()}/INBOX"
    result = runner.invoke(args=["bounce-mailbox"])
    assert result.exit_code == 1
    assert "bounce mailbox not read" in result.output and "refused" in result.output
    assert "hidden-word" not in result.output


# The periodic job ------------------------------------------------------------------------


def test_both_engines_poll_the_mailbox_only_when_one_is_set(app: Flask) -> None:
    from consentapp.tasks import celery, init_celery
    from consentapp.worker import Rounds

    assert "bounce_mailbox" not in {job.name for job in schedule(app.config).every_job()}
    app.config.update(BOUNCE_MAILBOX_URL="imaps://u:p@mail.example/INBOX")
    app.config.update(BOUNCE_MAILBOX_POLL_SECONDS=120)
    assert schedule(app.config).job("bounce_mailbox").seconds == 120
    beat = {
        entry["task"]: entry["schedule"] for entry in init_celery(app).conf.beat_schedule.values()
    }
    assert beat["consentapp.bounce_mailbox"] == 120
    assert "consentapp.bounce_mailbox" in celery.tasks
    worker = {job.task: timer.interval for job, timer in Rounds(app).timers}
    assert worker["consentapp.bounce_mailbox"] == 120


def test_the_mailbox_job_logs_a_mailbox_it_cannot_read(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["BOUNCE_MAILBOX_URL"] = f"imap://user:hidden-word@127.0.0.1:{free_port()}/INBOX"
    with app.app_context(), caplog.at_level(logging.WARNING):
        assert poll_job() is None
    assert "bounce mailbox not read" in caplog.text
    assert "hidden-word" not in caplog.text


def test_the_mailbox_job_reads_the_mailbox(
    app: Flask, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each message is in the queue (committed) before it leaves the mailbox."""
    dovecot.deliver(b"Subject: one\r\n\r\nbody\r\n")
    app.config.update(
        BOUNCE_MAILBOX_URL=dovecot.url("imaps"), BOUNCE_MAILBOX_CA_FILE=str(dovecot.ca_file)
    )
    monkeypatch.setattr("consentapp.services.bounce_mailbox.process_queue", lambda: 0)
    with app.app_context():
        run = poll_job()
    assert run is not None and run.poll.handled == 1
    assert dovecot.messages() == []
    with app.app_context():
        assert db.session.scalars(sa.select(IncomingReport.body)).all() == [
            b"Subject: one\r\n\r\nbody\r\n"
        ]


def test_the_mailbox_job_removes_a_message_over_bounce_max_message_bytes_unread(
    app: Flask, dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n"
    dovecot.deliver(big)
    dovecot.deliver(b"Subject: small\r\n\r\nbody\r\n")
    app.config.update(
        BOUNCE_MAILBOX_URL=dovecot.url("pop3s"),
        BOUNCE_MAILBOX_CA_FILE=str(dovecot.ca_file),
        BOUNCE_MAX_MESSAGE_BYTES=1000,
    )
    monkeypatch.setattr("consentapp.services.bounce_mailbox.process_queue", lambda: 0)
    with app.app_context():
        run = poll_job()
    assert run is not None and (run.poll.handled, run.poll.too_large) == (1, 1)
    assert dovecot.messages() == []
    with app.app_context():
        assert db.session.scalars(sa.select(IncomingReport.body)).all() == [
            b"Subject: small\r\n\r\nbody\r\n"
        ]


# The whole loop ------------------------------------------------------------------------


def arf(to: str, complainer: str, message_id: str) -> bytes:
    """An RFC 5965 complaint as a mailbox provider's feedback loop sends it."""
    return (
        "From: Feedback Loop <fbl@mail.example.net>\r\n"
        f"To: {to}\r\n"
        "Subject: Abuse report\r\n"
        "Message-ID: <arf-1@mail.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="f0"\r\n'
        "\r\n"
        "--f0\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "This is an email abuse report.\r\n"
        "--f0\r\n"
        "Content-Type: message/feedback-report\r\n"
        "\r\n"
        "Feedback-Type: abuse\r\n"
        "User-Agent: ExampleFBL/1.0\r\n"
        "Version: 1\r\n"
        f"Original-Rcpt-To: {complainer}\r\n"
        "--f0\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        f"Return-Path: <{to}>\r\n"
        "From: CRM <privacy@crm.example>\r\n"
        f"To: {complainer}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: News\r\n"
        "\r\n"
        "Hello\r\n"
        "--f0--\r\n"
    ).encode()


def test_refused_bounced_and_complaining_addresses_get_no_next_campaign(
    verp_app: Flask,
    smtp_server: SMTPServer,
    bounce_server: BounceServer,
    admin_client: FlaskClient,
) -> None:
    """A campaign where the receiving server refuses one address, a DSN comes back for a
    second and a complaint for a third: the next campaign skips all three, the ledger
    shows the complaint's withdrawal, staff see the bounces, a forged report does nothing."""
    refused, bounced, complains, stays = (
        f"{name}@example.be" for name in ("refused", "bounced", "complains", "stays")
    )
    for address in (refused, bounced, complains, stays):
        subscriber(verp_app, verp_app.test_client(), smtp_server, address)
    smtp_server.handler.reject.add(refused)
    send_campaign(verp_app)
    assert bounce_state(verp_app, refused) == ("hard", ["hard"])

    with smtplib.SMTP("127.0.0.1", bounce_server.port, timeout=10) as connection:
        verp, message_id = newsletter(verp_app, bounced)
        connection.sendmail("", [verp], dsn(verp, bounced, message_id))
        verp, message_id = newsletter(verp_app, complains)
        connection.sendmail("", [verp], arf(verp, complains, message_id))
        verp, message_id = newsletter(verp_app, stays)
        connection.sendmail("", [forged(verp)], dsn(forged(verp), stays, message_id, 9))
    assert bounce_state(verp_app, bounced) == ("hard", ["hard"])
    assert bounce_state(verp_app, complains) == ("complaint", ["complaint"])
    assert bounce_state(verp_app, stays) == (None, [])
    assert ("withdrawn", "complaint", "service-news") in ledger(verp_app)

    smtp_server.handler.clear()
    send_campaign(verp_app)
    received = {
        address for envelope in smtp_server.handler.envelopes for address in envelope.rcpt_tos
    }
    assert received == {stays}

    page = admin_client.get("/staff/bounces").get_data(as_text=True)
    assert all(address in page for address in (refused, bounced, complains))
    assert stays not in page
