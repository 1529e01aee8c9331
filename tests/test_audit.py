"""The audit log: every staff access recorded, in a hash chain that shows tampering."""

from __future__ import annotations

import threading
from itertools import pairwise

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp.extensions import db
from consentapp.models import AuditEntry, AuditHead, Contact
from consentapp.services import audit
from consentapp.services.audit import verify_chain
from tests.builders import VALID
from tests.flows import log_in
from tests.helpers import csrf_token, post_form, visible_text


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def contact_id(app: Flask) -> str:
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact))
        assert contact is not None
        return contact.public_id


def busy_day(app: Flask, client: FlaskClient, admin_client: FlaskClient) -> str:
    """A contact arrives, an admin views, edits and exports it, then logs out."""
    post_form(client, "/contact", VALID)
    public_id = contact_id(app)
    admin_client.get(f"/staff/contacts/{public_id}")
    token = csrf_token(admin_client, f"/staff/contacts/{public_id}/edit")
    admin_client.post(
        f"/staff/contacts/{public_id}/edit",
        data={
            "csrf_token": token,
            "email": "els.janssens@example.be",
            "name": "Els Janssens-Peeters",
            "company": "Janssens BV",
            "address": "Kerkstraat 1\n9000 Gent",
            "phone": "+3292658111",
            "fax": "",
            "language": "nl",
            "reason": "Name change by phone",
        },
    )
    admin_client.post(
        "/staff/contacts/export",
        data={
            "csrf_token": token,
            "fields": ["email", "name"],
            "purpose": "audit test",
            "topic": "",
            "status": "",
        },
    )
    admin_client.post("/staff/logout", data={"csrf_token": token})
    return public_id


def test_staff_actions_are_recorded_in_order(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    public_id = busy_day(app, client, admin_client)
    assert actions(app) == [
        "staff.create",
        "login",
        "contact.view",
        "contact.view",  # the edit page shows the contact too
        "contact.edit",
        "contacts.export",
        "logout",
    ]
    with app.app_context():
        edit = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "contact.edit"))
        assert edit is not None
        assert edit.target_id == public_id
        assert edit.details == {"fields": ["name"], "reason": "Name change by phone"}
        assert edit.actor_label == "Admin <admin@crm.example>"
        assert edit.client_address == "127.0.0.1"


def test_chain_verifies_and_the_command_says_so(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    busy_day(app, client, admin_client)
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 0, result.output
    assert "intact: 7 entries" in result.output


def _tamper(app: Flask, statement: str) -> None:
    with app.app_context():
        db.session.execute(sa.text(statement))
        db.session.commit()


def test_a_changed_entry_breaks_the_chain(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    busy_day(app, client, admin_client)
    _tamper(app, "UPDATE audit_entries SET actor_label = 'someone else' WHERE id = 3")
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 1
    assert "entry 3" in result.output


def test_changed_details_break_the_chain(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    busy_day(app, client, admin_client)
    with app.app_context():
        entry = db.session.get(AuditEntry, 4)
        assert entry is not None
        entry.details = {"fields": ["name"], "reason": "nothing to see"}
        db.session.commit()
        report = verify_chain()
    assert not report.ok and report.broken_id == 4


def test_a_deleted_entry_breaks_the_chain(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    busy_day(app, client, admin_client)
    _tamper(app, "DELETE FROM audit_entries WHERE id = 2")
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 1
    assert "entry 3" in result.output, "the entry after the gap no longer follows"


def test_deleting_the_newest_entries_is_noticed(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    busy_day(app, client, admin_client)
    _tamper(app, "DELETE FROM audit_entries WHERE id >= 5")
    with app.app_context():
        report = verify_chain()
    assert not report.ok
    assert report.problem is not None and "removed" in report.problem


def test_audit_page_filters_and_checks(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    public_id = busy_day(app, client, admin_client)

    post_form(app.test_client(), "/staff/login", {"email": "admin@crm.example", "password": "x"})
    admin = log_in(app.test_client(), "admin@crm.example")
    page = admin.get(f"/staff/audit?target={public_id}").get_data(as_text=True)
    rows = page.split("<tbody>")[1]
    assert "Contact bekeken" in rows and "Contact gewijzigd" in rows
    assert "Contacten geëxporteerd" not in rows and "contact.view" not in visible_text(page)
    chosen = admin.get("/staff/audit?action=contact.edit").get_data(as_text=True)
    assert '<option value="contact.edit" selected>Contact gewijzigd</option>' in chosen
    assert "Contact bekeken" not in chosen.split("<tbody>")[1], "the filter picks one action"
    logins = admin.get("/staff/audit?action=login").get_data(as_text=True).split("<tbody>")[1]
    assert "Aangemeld" in logins and "Aanmelden mislukt" not in logins, "one action, exactly"
    old_link = admin.get("/staff/audit?action=contact.").get_data(as_text=True)
    assert "beginnend met “contact.”" in old_link, "a prefix from an older link stays visible"
    checked = admin.get("/staff/audit?verify=1")
    assert checked.status_code == 200
    assert 'class="alert alert-success"' in checked.get_data(as_text=True)


def test_the_chain_never_forks(app: Flask) -> None:
    """Entries appended in separate transactions each follow the one before."""
    with app.app_context():
        for n in range(20):
            audit.record("test.entry", details={"n": n})
            db.session.commit()
        entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.id)).all()
        head = db.session.get(AuditHead, 1)
        assert head is not None and head.last_hash == entries[-1].entry_hash
        for before, after in pairwise(entries):
            assert after.prev_hash == before.entry_hash
        assert verify_chain().ok


def test_a_rolled_back_change_leaves_no_entry(app: Flask) -> None:
    with app.app_context():
        audit.record("test.entry")
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == 0
        assert verify_chain().ok


def test_concurrent_writers_keep_one_chain(app: Flask) -> None:
    """Two workers appending at the same time: the head row serialises them."""
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            with app.app_context():
                for n in range(15):
                    audit.record("test.concurrent", details={"writer": name, "n": n})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        report = verify_chain()
        assert report.ok, report
        assert report.checked == 30


BLANKING = {
    "erasure mark only": "UPDATE audit_entries SET details = NULL, "
    "redacted_at = CURRENT_TIMESTAMP WHERE id = 5",
    "every personal field": "UPDATE audit_entries SET client_address = NULL, details = NULL, "
    "personal_salt = NULL, redacted_at = CURRENT_TIMESTAMP WHERE id = 5",
}


@pytest.mark.parametrize("statement", BLANKING.values(), ids=BLANKING.keys())
def test_an_entry_blanked_without_a_redaction_entry_breaks_the_chain(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    runner: FlaskCliRunner,
    statement: str,
) -> None:
    busy_day(app, client, admin_client)
    _tamper(app, statement)
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 1
    assert "entry 5" in result.output


def test_a_redaction_entry_added_by_hand_breaks_the_chain(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, runner: FlaskCliRunner
) -> None:
    from consentapp.models.audit import personal_digest

    busy_day(app, client, admin_client)
    _tamper(app, BLANKING["every personal field"])
    with app.app_context():
        last = db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert last is not None
        forged = AuditEntry(
            id=last.id + 1,
            occurred_at=last.occurred_at,
            actor_label="",
            action=audit.REDACTION,
            target_type="audit",
            details={"entries": [5], "reason": "erasure"},
            personal_salt="0" * 32,
            personal_sha256=personal_digest("0" * 32, None, {"entries": [5], "reason": "erasure"}),
            prev_hash=last.entry_hash,
            entry_hash="",
        )
        forged.entry_hash = forged.compute_hash()
        db.session.add(forged)
        db.session.commit()
    result = runner.invoke(args=["audit-verify"])
    assert result.exit_code == 1
    assert "BROKEN" in result.output
