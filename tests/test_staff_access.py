"""Who gets into the staff area, and how: login, lockout, TOTP, sessions, roles."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import AuditEntry, Inquiry, StaffUser
from tests.builders import STAFF_PASSWORD
from tests.flows import log_in, submit_contact_form
from tests.helpers import csrf_token, post_form, prefixed_token

OPEN = {"staff.login", "staff.login_totp", "staff.static"}
PLACEHOLDERS: dict[str, Any] = {
    "public_id": "abcdefabcdefabcdef",
    "user_id": 1,
    "upload": "u" * 24,
    "action": "unlock",
    "fmt": "csv",
    "task_id": 1,
    "activity_id": 1,
    "disclosure_id": 1,
    "delivery_id": "msg_nothing",
    "prefix": "00000000",
}


def staff_endpoints(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every staff route, with placeholder arguments."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/staff") or rule.endpoint in OPEN:
                continue
            url = rule.rule
            for name in rule.arguments:
                url = url.replace(f"<int:{name}>", str(PLACEHOLDERS[name]))
                url = url.replace(f"<{name}>", str(PLACEHOLDERS[name]))
            method = "GET" if "GET" in (rule.methods or set()) else "POST"
            found.append((rule.endpoint, method, url))
    return found


def test_every_staff_page_sends_anonymous_visitors_to_the_login(app: Flask) -> None:
    client = app.test_client()
    endpoints = staff_endpoints(app)
    assert len(endpoints) > 15
    for endpoint, method, url in endpoints:
        if method == "POST":
            # POSTs need a CSRF token first; with one, they still go to the login.
            token = csrf_token(client, "/staff/login")
            response = client.post(url, data={"csrf_token": token})
        else:
            response = client.get(url)
        assert response.status_code == 302, (endpoint, response.status_code)
        assert response.headers["Location"].startswith("/staff/login"), endpoint


def test_staff_pages_are_never_cached(admin_client: FlaskClient) -> None:
    assert admin_client.get("/staff/").headers["Cache-Control"] == "no-store"


def test_wrong_password_and_unknown_address_look_the_same(app: Flask, admin_id: int) -> None:
    def attempt(email: str) -> tuple[int, str]:
        client = app.test_client()
        response = post_form(
            client, "/staff/login", {"email": email, "password": "wrong-pass-1234"}
        )
        return response.status_code, re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert attempt("admin@crm.example") == attempt("nobody@crm.example")
    assert attempt("admin@crm.example")[0] == 401
    with app.app_context():
        reasons = [
            e.details["reason"]
            for e in db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.action == "login.failed")
            )
        ]
    assert reasons.count("password") == 2 and reasons.count("unknown") == 1


def test_successful_login_is_audited_and_opens_the_dashboard(app: Flask, admin_id: int) -> None:
    client = log_in(app.test_client(), "admin@crm.example")
    assert client.get("/staff/").status_code == 200
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "login"))
        assert entry is not None and entry.actor_id == admin_id


def test_lockout_after_five_failures_and_admin_unlock(
    app: Flask, admin_client: FlaskClient, staff_id: int
) -> None:
    for _ in range(5):
        post_form(
            app.test_client(),
            "/staff/login",
            {"email": "staff@crm.example", "password": "not-the-password"},
        )
    locked = post_form(
        app.test_client(),
        "/staff/login",
        {"email": "staff@crm.example", "password": STAFF_PASSWORD},
    )
    assert locked.status_code == 401, "even the right password is refused while locked"

    token = csrf_token(admin_client, f"/staff/users/{staff_id}")
    admin_client.post(f"/staff/users/{staff_id}/unlock", data={"csrf_token": token})
    log_in(app.test_client(), "staff@crm.example")
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert "staff.locked" in actions and "staff.unlock" in actions


def test_login_renews_the_session_and_logout_kills_it(app: Flask, admin_id: int) -> None:
    client = app.test_client()
    client.get("/staff/login")
    before = client.get_cookie("consentapp_session")
    log_in(client, "admin@crm.example")
    after = client.get_cookie("consentapp_session")
    assert before is not None and after is not None and before.value != after.value

    stolen = after.value
    token = csrf_token(client, "/staff/")
    client.post("/staff/logout", data={"csrf_token": token})
    thief = app.test_client()
    thief.set_cookie("consentapp_session", stolen)
    response = thief.get("/staff/")
    assert response.status_code == 302, "a copied cookie dies with the logout"


def test_idle_session_times_out(app: Flask, admin_client: FlaskClient) -> None:
    with admin_client.session_transaction() as session:
        session["staff_seen"] = time.time() - 31 * 60
    response = admin_client.get("/staff/contacts")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/staff/login")
    assert admin_client.get("/staff/").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "logout.idle"))


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/staff/contacts", "/staff/contacts"),
        ("https://evil.example/staff", "/staff/"),
        ("//evil.example/staff", "/staff/"),
        ("/\\evil.example", "/staff/"),
        ("/privacy", "/staff/"),
    ],
)
def test_next_only_leads_inside_the_staff_area(
    app: Flask, admin_id: int, next_url: str, expected: str
) -> None:
    client = app.test_client()
    response = post_form(
        client,
        "/staff/login",
        {"email": "admin@crm.example", "password": STAFF_PASSWORD, "next": next_url},
    )
    assert response.headers["Location"] == expected


def test_login_is_rate_limited(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client, "/staff/login")
    statuses = [
        client.post(
            "/staff/login", data={"csrf_token": token, "email": "x@crm.example", "password": "y"}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[-1] == 429
    assert set(statuses[:10]) == {401}


def _enable_totp(app: Flask, client: FlaskClient) -> str:
    page = client.get("/staff/account/totp").get_data(as_text=True)
    secret = re.search(r'<span class="secret">([A-Z2-7]+)</span>', page)
    assert secret, "the setup page shows the key"
    assert 'src="data:image/svg+xml;base64,' in page, "the QR code is drawn locally"
    token = csrf_token(client, "/staff/account/totp")
    code = pyotp.TOTP(secret.group(1)).now()
    response = client.post("/staff/account/totp", data={"csrf_token": token, "code": code})
    assert response.status_code == 302
    return secret.group(1)


def test_totp_login_needs_a_fresh_code(app: Flask, admin_client: FlaskClient) -> None:
    secret = _enable_totp(app, admin_client)
    with app.app_context():
        user = db.session.scalar(sa.select(StaffUser))
        assert user is not None and user.has_totp
        user.totp_last_step = None  # allow the current code once more for the login
        db.session.commit()

    client = app.test_client()
    first = post_form(
        client, "/staff/login", {"email": "admin@crm.example", "password": STAFF_PASSWORD}
    )
    assert first.headers["Location"] == "/staff/login/totp"
    assert client.get("/staff/").status_code == 302, "no access between the two steps"
    wrong = post_form(client, "/staff/login/totp", {"code": "000000"})
    assert wrong.status_code == 401
    code = pyotp.TOTP(secret).now()
    right = post_form(client, "/staff/login/totp", {"code": code})
    assert right.status_code == 302 and right.headers["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200

    again = app.test_client()
    post_form(again, "/staff/login", {"email": "admin@crm.example", "password": STAFF_PASSWORD})
    replay = post_form(again, "/staff/login/totp", {"code": code})
    assert replay.status_code == 401, "a code works once"


def test_mandatory_totp_for_admins(app: Flask, admin_client: FlaskClient) -> None:
    token = csrf_token(admin_client, "/staff/settings")
    admin_client.post("/staff/settings", data={"csrf_token": token, "require_admin_totp": "y"})
    response = admin_client.get("/staff/contacts")
    assert response.status_code == 302
    assert response.headers["Location"] == "/staff/account/totp"
    _enable_totp(app, admin_client)
    assert admin_client.get("/staff/contacts").status_code == 200


def test_staff_role_is_not_forced_into_totp(
    app: Flask, admin_client: FlaskClient, staff_client: FlaskClient
) -> None:
    token = csrf_token(admin_client, "/staff/settings")
    admin_client.post("/staff/settings", data={"csrf_token": token, "require_admin_totp": "y"})
    assert staff_client.get("/staff/contacts").status_code == 200


def test_deactivation_asks_first_naming_the_account_and_its_open_inquiries(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    staff_client: FlaskClient,
    staff_id: int,
) -> None:
    submit_contact_form(app, client)
    with app.app_context():
        inquiry = db.session.scalar(sa.select(Inquiry))
        assert inquiry is not None
        inquiry_page = f"/staff/inquiries/{inquiry.public_id}"
    assigned = admin_client.post(
        f"{inquiry_page}/update",
        data={
            "update-csrf_token": prefixed_token(admin_client, inquiry_page, "update"),
            "update-status": "in_progress",
            "update-assigned_to": str(staff_id),
        },
    )
    assert assigned.status_code == 302
    page = f"/staff/users/{staff_id}"
    token = csrf_token(admin_client, page)

    asked = admin_client.post(f"{page}/deactivate", data={"csrf_token": token})
    assert asked.status_code == 200
    html = asked.get_data(as_text=True)
    assert "staff@crm.example" in html
    assert "Elke sessie van dit account eindigt meteen" in html
    assert f'href="{inquiry_page}"' in html, "the open inquiry assigned to the account"
    assert f'href="{page}"' in html, "a way back"
    assert staff_client.get("/staff/").status_code == 200, "nothing happens before the button"

    done = admin_client.post(f"{page}/deactivate", data={"csrf_token": token, "confirmed": "1"})
    assert done.status_code == 302
    assert staff_client.get("/staff/").status_code == 302
    with app.app_context():
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "staff.deactivate")
        ).all()
    assert [entry.target_id for entry in entries] == [str(staff_id)]


def test_deactivation_ends_sessions_at_once(
    app: Flask, admin_client: FlaskClient, staff_client: FlaskClient, staff_id: int
) -> None:
    assert staff_client.get("/staff/").status_code == 200
    token = csrf_token(admin_client, f"/staff/users/{staff_id}")
    admin_client.post(
        f"/staff/users/{staff_id}/deactivate", data={"csrf_token": token, "confirmed": "1"}
    )
    assert staff_client.get("/staff/").status_code == 302
    refused = post_form(
        app.test_client(),
        "/staff/login",
        {"email": "staff@crm.example", "password": STAFF_PASSWORD},
    )
    assert refused.status_code == 401


def test_role_change_is_audited_and_the_last_admin_stays(
    app: Flask, admin_client: FlaskClient, admin_id: int, staff_id: int
) -> None:
    token = csrf_token(admin_client, f"/staff/users/{staff_id}")
    admin_client.post(f"/staff/users/{staff_id}/role", data={"csrf_token": token, "role": "admin"})
    admin_client.post(f"/staff/users/{staff_id}/role", data={"csrf_token": token, "role": "staff"})
    admin_client.post(f"/staff/users/{admin_id}/role", data={"csrf_token": token, "role": "staff"})
    with app.app_context():
        admin = db.session.get(StaffUser, admin_id)
        assert admin is not None and admin.role == "admin", "the last admin cannot be demoted"
        changes = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "staff.role_change")
        ).all()
    assert [c.details for c in changes] == [
        {"from": "staff", "to": "admin"},
        {"from": "admin", "to": "staff"},
    ]


def test_admin_creates_an_account_that_can_log_in(app: Flask, admin_client: FlaskClient) -> None:
    token = csrf_token(admin_client, "/staff/users/new")
    response = admin_client.post(
        "/staff/users/new",
        data={
            "csrf_token": token,
            "email": "new@crm.example",
            "role": "staff",
            "password": "a-long-enough-password",
        },
    )
    assert response.status_code == 302
    log_in(app.test_client(), "new@crm.example", "a-long-enough-password")


def test_short_passwords_are_refused(app: Flask, admin_client: FlaskClient) -> None:
    token = csrf_token(admin_client, "/staff/users/new")
    response = admin_client.post(
        "/staff/users/new",
        data={
            "csrf_token": token,
            "email": "new@crm.example",
            "role": "staff",
            "password": "short",
        },
    )
    assert response.status_code == 400
    with app.app_context():
        made = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == "new@crm.example"))
        assert made is None, "a refused password leaves no account behind"


def test_password_change_needs_the_current_password(app: Flask, admin_client: FlaskClient) -> None:
    token = csrf_token(admin_client, "/staff/account")
    wrong = admin_client.post(
        "/staff/account",
        data={
            "csrf_token": token,
            "current": "not-it-at-all",
            "password": "another-good-password",
            "confirm": "another-good-password",
        },
    )
    assert wrong.status_code == 400
    right = admin_client.post(
        "/staff/account",
        data={
            "csrf_token": token,
            "current": STAFF_PASSWORD,
            "password": "another-good-password",
            "confirm": "another-good-password",
        },
    )
    assert right.status_code == 302
    assert admin_client.get("/staff/").status_code == 200, "this session stays logged in"
    log_in(app.test_client(), "admin@crm.example", "another-good-password")


def test_create_staff_command(app: Flask, runner: Any) -> None:
    result = runner.invoke(
        args=["create-staff", "cli@crm.example", "--role", "admin", "--password-stdin"],
        input="a-password-from-stdin\n",
    )
    assert result.exit_code == 0, result.output
    log_in(app.test_client(), "cli@crm.example", "a-password-from-stdin")
    short = runner.invoke(
        args=["create-staff", "x@crm.example", "--role", "staff", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "12" in short.output


def test_unlock_staff_command(app: Flask, runner: Any, staff_id: int) -> None:
    for _ in range(5):
        post_form(
            app.test_client(),
            "/staff/login",
            {"email": "staff@crm.example", "password": "wrong-one"},
        )
    result = runner.invoke(args=["unlock-staff", "staff@crm.example"])
    assert result.exit_code == 0, result.output
    log_in(app.test_client(), "staff@crm.example")


def test_failed_login_with_an_unknown_address_keeps_no_address(app: Flask) -> None:
    post_form(
        app.test_client(), "/staff/login", {"email": "someone@example.be", "password": "x" * 12}
    )
    with app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "login.failed"))
        assert entry is not None and entry.details == {"reason": "unknown"}


def test_generated_password_is_shown_once_and_not_put_in_the_session(
    app: Flask, admin_client: FlaskClient
) -> None:
    token = csrf_token(admin_client, "/staff/users/new")
    response = admin_client.post(
        "/staff/users/new",
        data={"csrf_token": token, "email": "gen@crm.example", "role": "staff", "password": ""},
    )
    assert response.status_code == 200
    password = re.search(r'<p class="secret">([^<]+)</p>', response.get_data(as_text=True))
    assert password
    with admin_client.session_transaction() as session:
        assert password.group(1) not in str(dict(session))
    log_in(app.test_client(), "gen@crm.example", password.group(1))
