"""Newsletter campaigns: only confirmed subscribers, own language, one-click out, safe delivery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dkim
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp.extensions import db
from consentapp.models import Campaign, OutboundEmail
from consentapp.services import campaign_sending
from consentapp.services import campaigns as service
from tests.builders import bulk_subscribers, make_campaign
from tests.flows import staff_send, start
from tests.helpers import csrf_token, deliver, subscribed, text_of
from tests.services import PROJECT_DIR, SMTPServer, worker_env


def newsletters(smtp_server: SMTPServer, email: str) -> list:
    return [m for m in smtp_server.to(email) if m["List-Id"]]


def test_only_confirmed_subscribers_receive_it_in_their_language(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    [dutch] = newsletters(smtp_server, "nl@example.be")
    [english] = newsletters(smtp_server, "en@example.be")
    assert dutch["Subject"] == "Onderhoud zaterdag"
    assert english["Subject"] == "Maintenance on Saturday"
    assert newsletters(smtp_server, "pending@example.be") == []
    assert newsletters(smtp_server, "gone@example.be") == []
    html = dutch.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<strong>onderhoud</strong>" in html
    assert "<script>" not in html
    assert "alert(1)" in text_of(dutch) or "&lt;script&gt;" in html


def test_every_message_is_personal_with_one_click_out_of_that_topic(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app)
    [mail] = newsletters(smtp_server, "nl@example.be")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["List-Id"].startswith("Service news <service-news.")
    assert mail["Message-ID"]
    one_click = mail["List-Unsubscribe"].strip("<>")
    assert one_click in text_of(mail)
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{one_click}"' in html, "the HTML footer carries the same personal link"
    assert ".invalid" not in text_of(mail) + html, "no stand-in link is left"
    assert "/preferences/" in text_of(mail) and "/preferences/" in html
    other = newsletters(smtp_server, "en@example.be")[0]["List-Unsubscribe"]
    assert other != mail["List-Unsubscribe"], "each link is personal"
    response = app.test_client(use_cookies=False).post(
        one_click.removeprefix("http://localhost"), data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    assert subscribed(app, "nl@example.be") == {"service-news": "unsubscribed"}
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        assert service.report(campaign).unsubscribes == 1


def test_unsubscribing_mid_campaign_stops_the_queued_message(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    with app.app_context():
        from consentapp.models import Contact
        from consentapp.services.subscriptions import withdraw

        person = db.session.scalar(sa.select(Contact).where(Contact.email == "nl@example.be"))
        assert person is not None
        withdraw(person, None, "web_form", None, "nl")
        db.session.commit()
    report = deliver(app)
    assert report.cancelled == 1 and report.sent == 1
    assert newsletters(smtp_server, "nl@example.be") == []


def test_recipients_are_queued_in_batches(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    public_id = make_campaign(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        service.schedule(campaign, None, None)
        assert campaign_sending.run_due_campaigns(batch=1) == 1
        assert campaign_sending.run_due_campaigns(batch=1) == 1
        assert campaign_sending.run_due_campaigns(batch=1) == 0
        db.session.refresh(campaign)
        assert campaign.recipients == 2 and campaign.queued_all
    deliver(app)
    with app.app_context():
        campaign_sending.run_due_campaigns()
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None and campaign.status == "sent"


def test_pause_holds_messages_and_resume_sends_them(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    public_id = make_campaign(app)
    start(app, public_id)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        service.pause(campaign, None)
    assert deliver(app).handled == 0
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        service.resume(campaign, None)
    assert deliver(app).sent == 2


def test_cancel_stops_what_is_not_sent(app: Flask, smtp_server: SMTPServer, audience: None) -> None:
    start(app, make_campaign(app))
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        assert service.cancel(campaign, None) == 2
    assert deliver(app).handled == 0
    assert smtp_server.messages == []


def _act_on_first_message(
    app: Flask, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """While the worker sends the first message of the pass, staff pause or cancel the
    campaign (the worker looks for that between messages, here after every one)."""
    from consentapp.services import delivery

    monkeypatch.setattr(delivery, "HOLD_CHECK_SECONDS", 0)
    # One connection: "the next message" is one (with more, each has one on the wire).
    app.config["MAIL_CONNECTIONS"] = 1

    def staff_acts(message: object, envelope: object) -> None:
        if smtp_server.handler.count != 1:
            return
        with app.app_context():
            campaign = db.session.scalar(sa.select(Campaign))
            assert campaign is not None
            getattr(service, action)(campaign, None)

    monkeypatch.setattr(smtp_server.handler, "on_message", staff_acts)


def _statuses(app: Flask) -> dict[str, int]:
    """How many of the campaign's messages are in each state."""
    with app.app_context():
        return dict(  # type: ignore[arg-type]
            db.session.execute(
                sa.select(OutboundEmail.status, sa.func.count())
                .where(OutboundEmail.campaign_id.is_not(None))
                .group_by(OutboundEmail.status)
            ).all()
        )


def test_pause_during_a_pass_stops_it_between_two_messages(
    app: Flask, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk_subscribers(app, 40)
    start(app, make_campaign(app))
    _act_on_first_message(app, smtp_server, monkeypatch, "pause")
    report = deliver(app)
    assert report.sent == 1, "nothing more went out once the campaign was paused"
    assert _statuses(app) == {"sent": 1, "pending": 39}, "the rest waits, untouched"
    monkeypatch.setattr(smtp_server.handler, "on_message", None)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        service.resume(campaign, None)
    assert deliver(app).sent == 39
    assert len(smtp_server.handler.envelopes) == 40


def test_cancel_during_a_pass_cancels_what_was_not_sent(
    app: Flask, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk_subscribers(app, 40)
    start(app, make_campaign(app))
    _act_on_first_message(app, smtp_server, monkeypatch, "cancel")
    report = deliver(app)
    assert (report.sent, report.cancelled) == (1, 39)
    assert _statuses(app) == {"sent": 1, "cancelled": 39}
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        assert service.report(campaign).remaining == 0


def test_cancelling_after_a_worker_died_leaves_nothing_to_send(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    from datetime import timedelta

    from consentapp.models import utcnow
    from consentapp.services.delivery import claim_due

    start(app, make_campaign(app))
    with app.app_context():
        assert len(claim_due(utcnow(), 50)) == 2  # a worker claims them and dies
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        service.cancel(campaign, None)
    assert (
        deliver(app, now=utcnow() + timedelta(seconds=app.config["MAIL_LEASE_SECONDS"] + 1)).sent
        == 0
    )
    assert _statuses(app) == {"cancelled": 2}
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None and service.report(campaign).remaining == 0
    assert smtp_server.handler.envelopes == []


def test_smtp_down_then_up_loses_nothing(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    from datetime import timedelta

    from consentapp.models import utcnow

    start(app, make_campaign(app))
    smtp_server.stop()
    now = utcnow()
    assert deliver(app, now=now).retrying == 2
    smtp_server.start()
    assert deliver(app, now=now + timedelta(minutes=1)).sent == 2
    assert len(newsletters(smtp_server, "nl@example.be")) == 1


def test_smtp_server_stopped_halfway_through_a_pass_loses_nothing(
    app: Flask, smtp_server: SMTPServer
) -> None:
    """The server goes away after about half of the messages of a pass: the rest wait
    and go out once it is back; everyone gets the newsletter, nobody twice except at
    most the message in flight when the server stopped."""
    import threading
    import time
    from collections import Counter
    from datetime import timedelta

    from consentapp.models import utcnow

    total = 40
    bulk_subscribers(app, total)
    start(app, make_campaign(app))
    app.config["MAIL_RATE_PER_SECOND"] = 100  # a pass of 40 takes about 0.4 s

    def stop_halfway() -> None:
        deadline = time.monotonic() + 30
        while smtp_server.handler.count < total // 2 and time.monotonic() < deadline:
            time.sleep(0.002)
        smtp_server.stop()

    watcher = threading.Thread(target=stop_halfway)
    watcher.start()
    now = utcnow()
    first = deliver(app, now=now, limit=total)
    watcher.join()
    assert 0 < first.sent < total and first.retrying >= 1, first
    smtp_server.start()
    later = now + timedelta(hours=2)
    while deliver(app, now=later, limit=total).handled:
        pass
    received = Counter(
        address for envelope in smtp_server.handler.envelopes for address in envelope.rcpt_tos
    )
    assert len(received) == total, "nothing lost"
    assert sum(count - 1 for count in received.values()) <= 1
    assert _statuses(app) == {"sent": total}


def test_consecutive_failures_pause_the_campaign(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    app.config["CAMPAIGN_MAX_CONSECUTIVE_FAILURES"] = 2
    smtp_server.handler.reject.update({"nl@example.be", "en@example.be"})
    start(app, make_campaign(app))
    deliver(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        assert campaign.status == "paused"
        assert campaign.pause_reason and "2" in campaign.pause_reason
        assert service.report(campaign).failures


def test_messages_are_dkim_signed_over_the_unsubscribe_headers(
    app: Flask, smtp_server: SMTPServer, audience: None, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app.config.update(DKIM_DOMAIN="crm.example", DKIM_SELECTOR="news", DKIM_KEY_PATH=str(key_path))
    start(app, make_campaign(app))
    deliver(app)
    [mail] = newsletters(smtp_server, "nl@example.be")
    signature = mail["DKIM-Signature"]
    assert "list-unsubscribe" in signature.lower() and "list-unsubscribe-post" in signature.lower()
    import base64

    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"news._domainkey.crm.example."
        return record

    [raw] = [data for data in smtp_server.raw_to("nl@example.be") if b"List-Id" in data]
    assert dkim.verify(raw, dnsfunc=dns), "the signature holds over the bytes as received"
    tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"X-Gone: 1")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_staff_write_preview_test_and_send(
    app: Flask, smtp_server: SMTPServer, audience: None, admin_client: FlaskClient
) -> None:
    token = csrf_token(admin_client, "/staff/campaigns/new")
    response = admin_client.post(
        "/staff/campaigns/new",
        data={
            "csrf_token": token,
            "topic": "service-news",
            "subject_nl": "Nieuws",
            "body_nl": "Hallo *lezer*",
            "subject_en": "News",
            "body_en": "Hello *reader*",
        },
    )
    assert response.status_code == 302
    page = admin_client.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    assert "<em>lezer</em>" in html and "<em>reader</em>" in html
    path = response.headers["Location"]
    admin_client.post(f"{path}/test", data={"csrf_token": token})
    deliver(app)
    tests = smtp_server.to("admin@crm.example")
    assert sorted(m["Subject"] for m in tests) == ["[TEST] News", "[TEST] Nieuws"]
    assert staff_send(admin_client, path).status_code == 302
    with app.app_context():
        campaign_sending.run_due_campaigns()
    deliver(app)
    assert len(newsletters(smtp_server, "nl@example.be")) == 1
    with app.app_context():
        from consentapp.models import AuditEntry

        actions = set(db.session.scalars(sa.select(AuditEntry.action)))
    assert {"campaign.create", "campaign.test", "campaign.schedule", "campaign.start"} <= actions


def test_send_campaign_command(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, audience: None
) -> None:
    body = tmp_path / "nl.md"
    body.write_text("Tekst", encoding="utf-8")
    result = runner.invoke(
        args=[
            "send-campaign",
            "--topic",
            "service-news",
            "--subject",
            "Onderwerp",
            "--body",
            str(body),
            "--at",
            "2030-01-01T09:00",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        assert campaign.public_id == result.stdout.strip()
        assert campaign.status == "scheduled"
        assert campaign.scheduled_at is not None and campaign.scheduled_at.year == 2030
        assert campaign_sending.run_due_campaigns() == 0, "not before its time"
    bad = runner.invoke(
        args=["send-campaign", "--topic", "nope", "--subject", "x", "--body", str(body)]
    )
    assert bad.exit_code != 0


@pytest.mark.slow
def test_worker_killed_mid_campaign_resends_at_most_the_message_in_flight(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    """A worker process killed with SIGKILL after its claim: the lease runs out and
    the next pass delivers; nobody is mailed twice except a message in flight."""
    from datetime import timedelta

    from consentapp.models import utcnow
    from consentapp.services.delivery import claim_due

    start(app, make_campaign(app))
    env_script = (
        "import os, signal, sys\n"
        "from consentapp.config import TestingConfig\n"
        "from consentapp import create_app\n"
        "from consentapp.services.delivery import claim_due\n"
        "from consentapp.models import utcnow\n"
        "app = create_app(TestingConfig({"
        f"'DATABASE_URL': {app.config['SQLALCHEMY_DATABASE_URI']!r}, "
        f"'CONSENTAPP_INSTANCE': {app.instance_path!r}}}))\n"
        "with app.app_context():\n"
        "    claim_due(utcnow(), 50)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", env_script], cwd=PROJECT_DIR, check=False)
    assert result.returncode == -9
    assert deliver(app).handled == 0, "the dead worker's lease still holds"
    assert (
        deliver(app, now=utcnow() + timedelta(seconds=app.config["MAIL_LEASE_SECONDS"] + 1)).sent
        == 2
    )
    assert len(newsletters(smtp_server, "nl@example.be")) == 1
    assert len(newsletters(smtp_server, "en@example.be")) == 1
    with app.app_context():
        assert claim_due(utcnow() + timedelta(hours=1), 50) == []
        statuses = set(
            db.session.scalars(
                sa.select(OutboundEmail.status).where(OutboundEmail.campaign_id.is_not(None))
            )
        )
        assert statuses == {"sent"}


@pytest.mark.slow
def test_two_workers_side_by_side_deliver_each_message_once(
    app: Flask, smtp_server: SMTPServer
) -> None:
    """Two broker-less worker processes on the same database (SQLite or PostgreSQL)
    share the campaign: every recipient gets it exactly once, and both did work."""
    import time
    from collections import Counter

    total = 1000
    bulk_subscribers(app, total)
    public_id = make_campaign(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        service.schedule(campaign, None, None)  # the workers queue it themselves
    env = worker_env(app, smtp_server, MAIL_BATCH_SIZE="25")
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline and status != "sent":
            time.sleep(0.2)
            with app.app_context():
                status = db.session.scalar(sa.select(Campaign.status)) or ""
                db.session.remove()
    finally:
        for worker in workers:
            worker.terminate()
        errors = [worker.communicate(timeout=30)[1].decode() for worker in workers]
    assert status == "sent", errors
    received = Counter(
        address for envelope in smtp_server.handler.envelopes for address in envelope.rcpt_tos
    )
    assert len(received) == total and max(received.values()) == 1
    assert all("Traceback" not in error for error in errors), "\n".join(errors)[-6000:]
    assert all("worker: sent" in error for error in errors), "both workers delivered some"


@pytest.mark.slow
def test_kill_9_mid_campaign_then_restart_delivers_everyone_once(
    app: Flask, smtp_server: SMTPServer
) -> None:
    """5,000 recipients; the worker process is killed with SIGKILL mid-send and started
    again. Everyone gets the newsletter; at most the messages in flight at the moment
    of the kill arrive twice: the MAIL_PIPELINE_DEPTH accepted ones whose record was
    not committed yet, and one on the wire on each of the MAIL_CONNECTIONS."""
    import signal
    import time
    from collections import Counter
    from datetime import timedelta

    from consentapp.models import utcnow

    total = 5000
    bulk_subscribers(app, total)
    start(app, make_campaign(app))
    env = worker_env(app, smtp_server, MAIL_BATCH_SIZE="50")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while smtp_server.handler.count < total // 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert smtp_server.handler.count >= total // 3, "the worker did not get going"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert smtp_server.handler.count < total, "killed before the end"
    later = utcnow() + timedelta(seconds=app.config["MAIL_LEASE_SECONDS"] + 1)
    while deliver(app, now=later, limit=200).handled:
        pass
    received = Counter(
        address for envelope in smtp_server.handler.envelopes for address in envelope.rcpt_tos
    )
    assert len(received) == total, "everyone got it"
    duplicates = sum(count - 1 for count in received.values())
    bound = app.config["MAIL_PIPELINE_DEPTH"] + app.config["MAIL_CONNECTIONS"]
    assert duplicates <= bound, f"{duplicates} recipients got it twice (bound {bound})"


def test_a_pass_shares_its_rows_between_its_connections(
    app: Flask, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MAIL_CONNECTIONS=2: the batch goes out over two SMTP sessions side by side,
    everyone once."""
    from collections import Counter

    bulk_subscribers(app, 40)
    start(app, make_campaign(app))
    peers: list[object] = []
    accept = smtp_server.handler.handle_DATA

    async def noting_the_session(server: object, session: object, envelope: object) -> str:
        peers.append(getattr(session, "peer", None))
        return await accept(server, session, envelope)  # type: ignore[arg-type]

    monkeypatch.setattr(smtp_server.handler, "handle_DATA", noting_the_session)
    app.config["MAIL_CONNECTIONS"] = 2
    report = deliver(app, limit=40)
    assert (report.sent, report.handled) == (40, 40)
    received = Counter(a for envelope in smtp_server.handler.envelopes for a in envelope.rcpt_tos)
    assert len(received) == 40 and set(received.values()) == {1}
    assert sorted(Counter(peers).values()) == [20, 20], "two sessions, half each"
