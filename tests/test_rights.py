"""`/my-data`: requests, the identity check, the export, objection and complete erasure."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp.extensions import db
from consentapp.models import (
    AuditEntry,
    ConsentEvent,
    Contact,
    DataRequest,
    OutboundEmail,
    Subscription,
    Suppression,
)
from consentapp.services.rights_export import export_csv
from tests.builders import EMAIL, VALID
from tests.flows import ask, confirm, confirmation_link, press, subscribe, verification_path
from tests.helpers import (
    csrf_token,
    deliver,
    is_check_mail_page,
    post_form,
    subscribed,
    text_of,
    without_csrf,
)
from tests.services import SMTPServer, find_postgres_bindir


@pytest.fixture
def known(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> None:
    """A person who wrote through the contact form and subscribed to a newsletter."""
    post_form(client, "/contact", {**VALID, "subscribe": "y", "topics": ["service-news"]})
    confirm(client, confirmation_link(app, smtp_server, EMAIL))
    deliver(app)
    smtp_server.handler.clear()


def test_unknown_address_is_told_we_hold_nothing(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    assert ask(client, "access", "nobody@example.be") == 200
    deliver(app)
    [mail] = smtp_server.to("nobody@example.be")
    assert "/my-data/verify/" not in text_of(mail)
    with app.app_context():
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None
        assert request.status == "done" and request.email is None


def test_answer_is_the_same_for_known_and_unknown_addresses(app: Flask, known: None) -> None:
    def answer(email: str) -> tuple[int, str]:
        response = post_form(app.test_client(), "/my-data", {"email": email, "kind": "erasure"})
        return response.status_code, without_csrf(response.get_data(as_text=True))

    known_answer = answer(EMAIL)
    assert known_answer == answer("nobody@example.be")
    assert is_check_mail_page(*known_answer), known_answer


def test_nothing_happens_before_the_link_is_used(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    ask(client, "erasure")
    path = verification_path(app, smtp_server)
    assert client.get(path).status_code == 200, "a link scanner only GETs"
    with app.app_context():
        assert db.session.scalar(sa.select(Contact)) is not None
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None and request.status == "unverified"


def test_access_shows_everything_and_offers_json_and_csv(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    ask(client, "access")
    status, html = press(client, verification_path(app, smtp_server))
    assert status == 200
    assert EMAIL in html and "Kunnen jullie onze domeinnaam verhuizen?" in html
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:", html), "no raw ISO timestamps"
    assert "<dt>E-mailadres</dt>" in html and "<dt>In ons bestand sinds</dt>" in html
    assert "<dt>email</dt>" not in html
    assert "Nieuws over onze diensten: bevestigd" in html, "topic and status by name"
    json_path = re.search(r'href="(/my-data/export/[^"]+\.json)"', html)
    csv_path = re.search(r'href="(/my-data/export/[^"]+\.csv)"', html)
    assert json_path and csv_path
    data = json.loads(client.get(json_path.group(1)).get_data(as_text=True))
    assert data["contact"]["email"] == EMAIL
    assert {s["topic"]: s["status"] for s in data["subscriptions"]} == {"service-news": "confirmed"}
    assert all(e["notice_sha256"] for e in data["consent_ledger"])
    assert data["messages"][0]["message"] == "Kunnen jullie onze domeinnaam verhuizen?"
    assert any("bevestig" in m["subject"].lower() for m in data["mails_sent"])
    assert data["processing"], "purposes, retention and recipients are part of the answer"
    csv_text = client.get(csv_path.group(1)).get_data(as_text=True)
    assert csv_text.startswith("section,item,field,value")
    assert f"contact,1,email,{EMAIL}" in csv_text
    cells = [row[3] for row in csv.reader(io.StringIO(csv_text))]
    assert not [cell for cell in cells if cell.startswith(("[", "{"))], "nothing nested as code"
    assert "mail_returned,1,reports," in csv_text, "an empty list is an empty cell"
    with app.app_context():
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None
        assert request.status == "done" and request.verification
    deliver(app)
    assert smtp_server.to(EMAIL), "the outcome is confirmed by mail"


def test_export_link_expires_after_an_hour(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    known: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ask(client, "access")
    _, html = press(client, verification_path(app, smtp_server))
    export = re.search(r'href="(/my-data/export/[^"]+\.json)"', html)
    assert export
    assert client.get(export.group(1)).status_code == 200
    in_two_hours = time.time() + 7200
    with monkeypatch.context() as patched:
        patched.setattr("itsdangerous.timed.time.time", lambda: in_two_hours)
        assert client.get(export.group(1)).status_code == 410


def test_used_verification_link_is_409(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    ask(client, "access")
    path = verification_path(app, smtp_server)
    assert press(client, path)[0] == 200
    assert client.get(path).status_code == 409
    token = csrf_token(client, "/my-data")
    assert client.post(path, data={"csrf_token": token}).status_code == 409


def test_expired_and_tampered_verification_links(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    known: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    two_days_ago = time.time() - 2 * 86400
    with monkeypatch.context() as patched:
        patched.setattr("itsdangerous.timed.time.time", lambda: two_days_ago)
        ask(client, "erasure")
    path = verification_path(app, smtp_server)
    assert client.get(path).status_code == 410
    assert client.get(path[:-4] + "AAAA").status_code == 400
    assert client.get("/my-data/verify/not-a-token").status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(Contact)) is not None


def test_objection_stops_everything_and_suppresses(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    ask(client, "objection")
    assert press(client, verification_path(app, smtp_server))[0] == 200
    assert subscribed(app, EMAIL) == {"service-news": "unsubscribed"}
    with app.app_context():
        assert db.session.scalar(sa.select(Suppression.reason)) == "objection"


def test_rectification_leads_to_the_preferences_page(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    ask(client, "rectification")
    status, html = press(client, verification_path(app, smtp_server))
    assert status == 200
    assert re.search(r'href="http://localhost/preferences/[^"]+"', html)
    with app.app_context():
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None and request.status == "in_progress"


def _dump(app: Flask) -> str:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as connection:
            return "\n".join(connection.iterdump())
    bindir = find_postgres_bindir()
    assert bindir is not None
    result = subprocess.run(
        [
            str(bindir / "pg_dump"),
            "-h",
            str(url.host),
            "-p",
            str(url.port),
            "-U",
            str(url.username),
            str(url.database),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_erasure_leaves_nothing_in_a_database_dump(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    known: None,
    admin_client: FlaskClient,
    runner: FlaskCliRunner,
) -> None:
    with app.app_context():
        public_id = db.session.scalar(sa.select(Contact.public_id))
    admin_client.get(f"/staff/contacts/{public_id}")  # an audited view, with details
    token = csrf_token(admin_client, f"/staff/contacts/{public_id}/edit")
    admin_client.post(
        f"/staff/contacts/{public_id}/edit",
        data={
            "csrf_token": token,
            "email": EMAIL,
            "name": "Els Janssens",
            "company": "Janssens BV",
            "address": "Kerkstraat 1\n9000 Gent",
            "phone": "0470 12 34 56",
            "fax": "",
            "language": "nl",
            "reason": "Els Janssens called with a new number",
        },
    )
    assert "Els Janssens" in _dump(app)

    ask(client, "erasure")
    status, _ = press(client, verification_path(app, smtp_server))
    assert status == 200
    before = len(smtp_server.to(EMAIL))
    report = deliver(app)
    assert report.sent == 1
    assert len(smtp_server.to(EMAIL)) == before + 1, "the last mail still reaches the person"

    dump = _dump(app)
    for needle in (
        EMAIL,
        "Els Janssens",
        "+32470123456",
        "0470 12 34 56",
        "+3292658111",
        "Kerkstraat",
    ):
        assert needle not in dump, needle
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(ConsentEvent.id))) > 0, "ledger kept"
        assert db.session.scalar(sa.select(sa.func.count(OutboundEmail.id))) == 0
        assert db.session.scalar(sa.select(Suppression.reason)) == "erasure"


HOME_ADDRESS = "198.51.100.73"


def test_erasure_leaves_no_client_address_of_the_person_in_a_dump(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = HOME_ADDRESS
    post_form(visitor, "/contact", {**VALID, "subscribe": "y", "topics": ["service-news"]})
    confirm(visitor, confirmation_link(app, smtp_server, EMAIL))
    post_form(visitor, "/preferences", {"email": EMAIL})
    with app.app_context():
        public_id = db.session.scalar(sa.select(Contact.public_id))
    admin_client.get(f"/staff/contacts/{public_id}")
    assert HOME_ADDRESS in _dump(app)

    assert ask(visitor, "erasure") == 200
    status, _ = press(visitor, verification_path(app, smtp_server))
    assert status == 200
    deliver(app)

    assert HOME_ADDRESS not in _dump(app)
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        redaction = db.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "audit.redacted")
        )
        assert redaction is not None and redaction.details is not None
        assert redaction.details["reason"] == f"erasure of {public_id}"
        view = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "contact.view"))
        assert view is not None and view.id in redaction.details["entries"]
        assert view.actor_label, "who looked stays; from where and the details go"


def _erase_a_visitor(app: Flask, smtp_server: SMTPServer, name: str, email: str) -> None:
    """Someone writes in and subscribes from HOME_ADDRESS, then has themselves erased."""
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = HOME_ADDRESS
    person = {**VALID, "name": name, "email": email}
    post_form(visitor, "/contact", {**person, "subscribe": "y", "topics": ["service-news"]})
    confirm(visitor, confirmation_link(app, smtp_server, email))
    assert ask(visitor, "erasure", email) == 200
    status, _ = press(visitor, verification_path(app, smtp_server, email))
    assert status == 200
    assert deliver(app).sent == 1, "the last mail reaches the person, then goes"


def test_erasure_leaves_no_bytes_of_the_person_in_the_sqlite_files(
    app: Flask, smtp_server: SMTPServer
) -> None:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite":
        pytest.skip("the files of a SQLite database")
    name, email = "Wilhelmina Oosterbroek", "wilhelmina.oosterbroek@example.be"
    _erase_a_visitor(app, smtp_server, name, email)

    files = [Path(f"{url.database}{suffix}") for suffix in ("", "-wal", "-shm")]
    raw = b"".join(path.read_bytes() for path in files if path.exists())
    assert raw, "the database files were read"
    for needle in (name, email, HOME_ADDRESS, "Oosterbroek"):
        assert needle.encode() not in raw, needle


def test_every_sqlite_connection_overwrites_deleted_content() -> None:
    """Many SQLite builds keep deleted bytes by default; the app's connections do not."""
    from consentapp.extensions import tune_sqlite

    connection = sqlite3.connect(":memory:")
    connection.execute("PRAGMA secure_delete=OFF")
    tune_sqlite(connection, None)
    assert connection.execute("PRAGMA secure_delete").fetchone() == (1,)
    connection.close()


def test_erasure_vacuums_the_tables_it_touched_on_postgresql(
    app: Flask, smtp_server: SMTPServer
) -> None:
    from consentapp.services.erasure import TOUCHED_TABLES
    from consentapp.services.storage_scrub import wait_for_vacuums

    if sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        pytest.skip("VACUUM is for PostgreSQL")
    with app.app_context():
        db.session.execute(sa.text("SELECT pg_stat_reset()"))
        db.session.commit()
    _erase_a_visitor(app, smtp_server, "Wilhelmina Oosterbroek", "w.oosterbroek@example.be")
    wait_for_vacuums()
    with app.app_context():
        vacuumed = set(
            db.session.scalars(
                sa.text(
                    "SELECT relname FROM pg_stat_user_tables "
                    "WHERE vacuum_count > 0 AND relname = ANY(:tables)"
                ),
                {"tables": list(TOUCHED_TABLES)},
            )
        )
    assert vacuumed == set(TOUCHED_TABLES)


def test_erasure_under_legal_hold_keeps_only_invoicing_data(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact))
        assert contact is not None
        contact.last_invoice_on = date(date.today().year - 3, 3, 15)
        db.session.commit()
    ask(client, "erasure")
    status, html = press(client, verification_path(app, smtp_server))
    assert status == 200
    assert str(date.today().year + 7) in html
    deliver(app)
    last = smtp_server.to(EMAIL)[-1]
    assert str(date.today().year + 7) in text_of(last)
    with app.app_context():
        held = db.session.scalar(sa.select(Contact))
        assert held is not None
        assert held.email is None and held.phone == ""
        assert (held.name, held.company) == ("Els Janssens", "Janssens BV")
        assert held.legal_hold_until == date(date.today().year + 7, 3, 15)
        assert db.session.scalar(sa.select(sa.func.count(Subscription.id))) == 0
    assert EMAIL not in _dump(app)


def test_own_new_opt_in_after_erasure_lifts_the_suppression(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    ask(client, "erasure")
    press(client, verification_path(app, smtp_server))
    deliver(app)
    subscribe(app.test_client(), EMAIL, ("company-news",))
    assert confirm(client, confirmation_link(app, smtp_server, EMAIL)) == 200
    assert subscribed(app, EMAIL) == {"company-news": "confirmed"}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Suppression.id))) == 0
        lifted = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "confirmed")
        ).all()
        assert lifted[-1].details is not None and lifted[-1].details.get("suppression_lifted")


def test_fourth_request_in_an_hour_sends_no_mail(
    app: Flask, smtp_server: SMTPServer, known: None
) -> None:
    for _ in range(4):
        assert ask(app.test_client(), "access") == 200
    deliver(app)
    assert len(smtp_server.to(EMAIL)) == 3


@pytest.mark.parametrize(
    "data",
    [
        {"email": EMAIL, "kind": "everything"},
        {"email": EMAIL},
        {"email": "not-an-address", "kind": "access"},
        {"email": f"{EMAIL}\r\nBcc: x@example.be", "kind": "access"},
    ],
)
def test_bad_requests_are_400_and_send_nothing(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, data: dict[str, str]
) -> None:
    assert post_form(client, "/my-data", data).status_code == 400
    deliver(app)
    assert smtp_server.messages == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 0


def test_requests_never_verified_are_closed_after_two_weeks(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None
) -> None:
    from datetime import timedelta

    from consentapp.models import utcnow
    from consentapp.services.rights import expire_unverified

    ask(client, "access")
    with app.app_context():
        assert expire_unverified() == 0, "a fresh request stays open"
        assert expire_unverified(utcnow() + timedelta(days=15)) == 1
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None
        assert request.status == "cancelled" and request.email is None


def test_erasure_also_removes_staff_notes_on_the_persons_requests(
    app: Flask, known: None, admin_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    token = csrf_token(admin_client, "/staff/requests/new")
    admin_client.post(
        "/staff/requests/new",
        data={
            "csrf_token": token,
            "kind": "erasure",
            "channel": "phone",
            "email": EMAIL,
            "language": "nl",
            "verification": "Els Janssens called from 0470 99 88 77",
        },
    )
    with app.app_context():
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None
        public_id = request.public_id
    path = f"/staff/requests/{public_id}"
    token = csrf_token(admin_client, path)
    admin_client.post(
        f"{path}/extend",
        data={
            "extend-csrf_token": token,
            "extend-months": "1",
            "extend-reason": "Els is in hospital",
        },
    )
    admin_client.post(f"{path}/carry-out", data={"csrf_token": token, "confirmed": "1"})
    deliver(app)
    dump = _dump(app)
    for needle in ("0470 99 88 77", "in hospital", "Els Janssens", EMAIL):
        assert needle not in dump, needle
    assert runner.invoke(args=["audit-verify"]).exit_code == 0


def test_a_forged_erasure_mark_in_the_audit_log_is_noticed(
    app: Flask, admin_client: FlaskClient
) -> None:
    from consentapp.services.audit import verify_chain

    with app.app_context():
        db.session.execute(
            sa.text(
                "UPDATE audit_entries SET redacted_at = CURRENT_TIMESTAMP, "
                "details = '{\"forged\": true}' WHERE id = 1"
            )
        )
        db.session.commit()
        report = verify_chain()
    assert not report.ok and report.broken_id == 1


def test_rectification_requests_are_completed_by_staff(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, known: None, admin_client: FlaskClient
) -> None:
    ask(client, "rectification")
    press(client, verification_path(app, smtp_server))
    with app.app_context():
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None and request.status == "in_progress"
        path = f"/staff/requests/{request.public_id}"
    token = csrf_token(admin_client, path)
    empty = admin_client.post(
        f"{path}/complete", data={"complete-csrf_token": token, "complete-outcome": " "}
    )
    assert empty.status_code == 400
    admin_client.post(
        f"{path}/complete",
        data={"complete-csrf_token": token, "complete-outcome": "Invoice address corrected"},
    )
    with app.app_context():
        request = db.session.scalar(sa.select(DataRequest))
        assert request is not None
        assert request.status == "done" and request.outcome == "Invoice address corrected"


def test_the_csv_copy_gives_nested_values_a_row_each() -> None:
    data = {
        "mail_returned": {"reason": None, "reports": [{"type": "hard"}, {"type": "soft"}]},
        "disclosures": [{"kind": "partner", "data": ["name", "email"], "extra": {}}],
        "your_rights": "You may see them.",
    }
    rows = list(csv.reader(io.StringIO("".join(export_csv(data)))))
    assert rows == [
        ["section", "item", "field", "value"],
        ["mail_returned", "1", "reason", ""],
        ["mail_returned", "1", "reports.1.type", "hard"],
        ["mail_returned", "1", "reports.2.type", "soft"],
        ["disclosures", "1", "kind", "partner"],
        ["disclosures", "1", "data", "name; email"],
        ["disclosures", "1", "extra", ""],
        ["your_rights", "1", "", "You may see them."],
    ]
