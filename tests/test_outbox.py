"""The outbox: a mail is a row first, and the worker delivers it exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.mail.leases import retry_delay
from consentapp.mail.outbox import HeaderInjection, queue_email
from consentapp.models import OutboundEmail, utcnow
from consentapp.services.delivery import DeliveryReport, claim_due
from tests.builders import VALID
from tests.helpers import deliver, post_form
from tests.services import PROJECT_DIR, SMTPServer


def queue(app: Flask, to: str = "reader@example.be") -> int:
    with app.app_context():
        row = queue_email(
            to=to,
            template="contact_ack",
            language="nl",
            subject="Test",
            context={"reference": "ref", "org_name": "CRM"},
        )
        db.session.commit()
        return row.id


def row(app: Flask, row_id: int) -> OutboundEmail:
    with app.app_context():
        found = db.session.get(OutboundEmail, row_id)
        assert found is not None
        db.session.expunge(found)
        return found


def lease(app: Flask) -> timedelta:
    """How long a claim holds unless its worker renews it."""
    return timedelta(seconds=app.config["MAIL_LEASE_SECONDS"])


def test_request_never_talks_to_smtp(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    smtp_server.stop()
    response = post_form(client, "/contact", VALID)
    assert response.status_code == 302
    with app.app_context():
        statuses = db.session.scalars(sa.select(OutboundEmail.status)).all()
    assert statuses == ["pending", "pending"]


def test_smtp_down_then_up_delivers_exactly_once(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    smtp_server.stop()
    post_form(client, "/contact", VALID)
    start = utcnow()

    report = deliver(app, now=start)
    assert (report.sent, report.retrying) == (0, 2)
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboundEmail)).all()
        assert all(r.status == "pending" and r.attempts == 1 for r in rows)
        assert all("Connection refused" in (r.last_error or "") for r in rows)
        assert all(r.next_attempt_at >= start + timedelta(seconds=30) for r in rows)

    smtp_server.start()
    assert deliver(app, now=start + timedelta(seconds=5)).handled == 0, "backoff respected"
    report = deliver(app, now=start + timedelta(seconds=31))
    assert report.sent == 2
    assert deliver(app, now=start + timedelta(hours=2)).handled == 0
    assert len(smtp_server.messages) == 2
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboundEmail)).all()
        assert all(r.status == "sent" and r.attempts == 2 and r.sent_at for r in rows)
        assert all(r.last_error is None for r in rows)


def test_message_id_is_fixed_by_the_row(app: Flask, smtp_server: SMTPServer) -> None:
    row_id = queue(app)
    deliver(app)
    [message] = smtp_server.messages
    assert message["Message-ID"] == row(app, row_id).message_id


def test_permanent_refusal_is_recorded_and_not_retried(app: Flask, smtp_server: SMTPServer) -> None:
    smtp_server.handler.reject.add("gone@example.be")
    gone = queue(app, "gone@example.be")
    fine = queue(app, "reader@example.be")
    report = deliver(app)
    assert (report.sent, report.failed) == (1, 1)
    failed = row(app, gone)
    assert failed.status == "failed"
    assert failed.last_error is not None and "550" in failed.last_error
    assert row(app, fine).status == "sent"
    assert deliver(app, now=utcnow() + timedelta(days=1)).handled == 0


def test_backoff_doubles_up_to_an_hour() -> None:
    assert retry_delay(1) == timedelta(seconds=30)
    assert retry_delay(2) == timedelta(seconds=60)
    assert retry_delay(5) == timedelta(seconds=480)
    assert retry_delay(30) == timedelta(hours=1)


def test_claimed_row_is_not_claimed_twice_until_its_lease_runs_out(app: Flask) -> None:
    row_id = queue(app)
    now = utcnow()
    with app.app_context():
        assert [r.id for r in claim_due(now, 10)] == [row_id]
        assert claim_due(now, 10) == [], "a second worker gets nothing meanwhile"
        # The first worker died mid-send: after the lease the row is taken again.
        assert [r.id for r in claim_due(now + lease(app) + timedelta(seconds=1), 10)] == [row_id]


@pytest.mark.slow
def test_a_pass_longer_than_its_lease_keeps_its_rows(app: Flask, smtp_server: SMTPServer) -> None:
    """The running pass renews its short lease, so another worker polling meanwhile
    never takes (and sends again) a row the pass still holds."""
    import threading

    ids = [queue(app, to=f"r{n}@example.be") for n in range(16)]
    # A lease short enough to run out twice over during the pass, long enough that a
    # renewal kept waiting a second for SQLite's write lock on a busy machine still
    # lands in time (the pass stops at half the lease without one).
    app.config["MAIL_LEASE_SECONDS"] = 3
    app.config["MAIL_RATE_PER_SECOND"] = 2.5  # 16 mails take 6 s, twice the lease
    pass_report: list[DeliveryReport] = []
    running = threading.Thread(target=lambda: pass_report.append(deliver(app)))
    running.start()
    while not smtp_server.messages and running.is_alive():
        time.sleep(0.01)  # the pass has claimed the rows and started
    taken: list[int] = []
    with app.app_context():
        while running.is_alive():
            taken += [r.id for r in claim_due(utcnow(), 50)]
            db.session.remove()
            time.sleep(0.2)
    running.join()
    assert taken == [], "no row was taken from the live pass"
    assert pass_report[0].sent == 16
    assert [row(app, row_id).status for row_id in ids] == ["sent"] * 16
    assert len(smtp_server.messages) == 16


def test_crashed_send_is_delivered_after_the_lease(app: Flask, smtp_server: SMTPServer) -> None:
    queue(app)
    now = utcnow()
    with app.app_context():
        claim_due(now, 10)  # a worker claims the row and dies
    assert deliver(app, now=now).handled == 0
    assert deliver(app, now=now + lease(app) + timedelta(seconds=1)).sent == 1
    assert len(smtp_server.messages) == 1


def test_header_injection_never_reaches_the_outbox(app: Flask) -> None:
    with app.app_context():
        for bad in ({"to": "a@example.be\r\nBcc: b@example.be"}, {"subject": "Hi\nBcc: x"}):
            kwargs = {"to": "a@example.be", "subject": "Hi", **bad}
            try:
                queue_email(
                    template="contact_ack",
                    language="nl",
                    context={"reference": "r", "org_name": "CRM"},
                    **kwargs,
                )
            except HeaderInjection:
                pass
            else:
                raise AssertionError(f"accepted {bad}")
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(OutboundEmail.id))) == 0


@pytest.mark.slow
def test_worker_command_delivers_the_outbox(app: Flask, smtp_server: SMTPServer) -> None:
    queue(app)
    env = {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "CONSENTAPP_INSTANCE": app.instance_path,
    }
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--once"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert len(smtp_server.messages) == 1


def test_hourly_rate_limit_holds_mail_back(app: Flask, smtp_server: SMTPServer) -> None:
    app.config["MAIL_RATE_PER_HOUR"] = 2
    for _ in range(3):
        queue(app)
    assert deliver(app).sent == 2
    assert deliver(app).handled == 0, "the third waits for the next hour"
    assert deliver(app, now=utcnow() + timedelta(hours=1, minutes=1)).sent == 1


def test_internationalised_domain_is_delivered_in_ascii_form(
    app: Flask, smtp_server: SMTPServer
) -> None:
    queue(app, to="jan@bücher.be")
    assert deliver(app).sent == 1
    [envelope] = smtp_server.handler.envelopes
    assert envelope.rcpt_tos == ["jan@xn--bcher-kva.be"]


def test_an_unsendable_row_fails_alone_and_the_rest_goes_out(
    app: Flask, smtp_server: SMTPServer
) -> None:
    bad = queue(app, to="jän@example.be")  # no SMTPUTF8: cannot be carried
    queue(app, to="good@example.be")
    report = deliver(app)
    assert (report.sent, report.failed) == (1, 1)
    assert row(app, bad).status == "failed"
    assert "not a usable address" in (row(app, bad).last_error or "")
    assert deliver(app).handled == 0, "not retried"
    assert [e.rcpt_tos for e in smtp_server.handler.envelopes] == [["good@example.be"]]


def test_a_greylisted_recipient_waits_and_the_rest_of_the_pass_goes_on(
    app: Flask, smtp_server: SMTPServer
) -> None:
    grey = queue(app, to="grey@example.be")
    queue(app, to="one@example.be")
    queue(app, to="two@example.be")
    smtp_server.handler.greylist.add("grey@example.be")
    report = deliver(app)
    assert (report.sent, report.retrying) == (2, 1), "a 4xx for one recipient ends nothing"
    assert row(app, grey).status == "pending" and "450" in (row(app, grey).last_error or "")
    smtp_server.handler.greylist.clear()
    assert deliver(app, now=utcnow() + timedelta(minutes=1)).sent == 1


def test_a_long_pass_gives_the_rest_of_its_rows_back(
    app: Flask, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentapp.services import delivery

    ids = [queue(app, to=f"r{n}@example.be") for n in range(10)]
    app.config["MAIL_RATE_PER_SECOND"] = 20  # 10 mails take half a second
    monkeypatch.setattr(delivery, "MAX_PASS_SECONDS", 0.2)
    report = deliver(app)
    assert 0 < report.sent < 10
    statuses = [row(app, row_id).status for row_id in ids]
    assert statuses.count("sent") == report.sent
    assert statuses.count("pending") == 10 - report.sent, "none left claimed"


def test_an_unexpected_error_mid_pass_leaves_no_row_claimed(
    app: Flask, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentapp.mail import leases, transport

    ids = [queue(app, to=f"r{n}@example.be") for n in range(4)]
    build = transport.Composer.message_bytes

    def broken_for_the_third(self: transport.Composer, outgoing: leases.Outgoing) -> bytes:
        if outgoing.id == ids[2]:
            raise RuntimeError("a bug")
        return build(self, outgoing)

    monkeypatch.setattr(transport.Composer, "message_bytes", broken_for_the_third)
    app.config["MAIL_CONNECTIONS"] = 1  # the rows in their order, on one connection
    with pytest.raises(RuntimeError):
        deliver(app)
    assert [row(app, row_id).status for row_id in ids] == ["sent", "sent", "pending", "pending"]
    monkeypatch.undo()
    assert deliver(app).sent == 2
    assert len(smtp_server.handler.envelopes) == 4
