"""The staff page for API tokens (admins): the list, creating a token that is shown
once and stored only as a digest, and revoking one; each step audited."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import ApiToken, utcnow
from consentapp.services.api_tokens import digest
from tests.helpers import assert_problem, audited, call, csrf_token, post_form, token_for

PAGE = "/staff/api-tokens"
SECRET = re.compile(r'id="api-token">(ca_[0-9a-f]{8}_[A-Za-z0-9_-]+)<')


def create(client: FlaskClient, **fields: object) -> str:
    """Create a token through the form; the secret shown on the next page."""
    data = {"name": "CRM sync", "scopes": ["contacts:read", "topics:read"]} | fields
    response = post_form(client, PAGE, data)
    assert response.status_code == 201, response.get_data(as_text=True)
    match = SECRET.search(response.get_data(as_text=True))
    assert match, "the token is not on the page"
    return match.group(1)


def stored_tokens(app: Flask) -> list[ApiToken]:
    with app.app_context():
        rows = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)).all()
        db.session.expunge_all()
        return list(rows)


def test_an_admin_creates_a_token_that_is_shown_once_and_kept_as_a_digest(
    app: Flask, admin_client: FlaskClient, admin_id: int, client: FlaskClient
) -> None:
    secret = create(admin_client, expires_days="30")
    (token,) = stored_tokens(app)
    assert token.name == "CRM sync" and token.scope_set == {"contacts:read", "topics:read"}
    assert token.token_sha256 == digest(secret) and token.prefix in secret
    assert token.created_by == "Admin <admin@crm.example>"
    assert token.expires_at is not None
    assert timedelta(days=29) < token.expires_at - utcnow() <= timedelta(days=30)
    with app.app_context():
        for row in db.session.execute(sa.text("SELECT * FROM api_tokens")):
            assert secret not in [str(value) for value in row]
    assert [(e.actor_id, e.target_id) for e in audited(app, "api_token.create")] == [
        (admin_id, token.prefix)
    ]
    listed = admin_client.get(PAGE).get_data(as_text=True)
    assert token.prefix in listed and "CRM sync" in listed and secret not in listed
    assert "contacts:read" in listed and "Admin &lt;admin@crm.example&gt;" in listed
    assert call(client, secret, "/api/v1/topics").status_code == 200
    assert_problem(call(client, secret, "/api/v1/data-requests"), 403)


def test_the_form_refuses_no_scope_an_unknown_scope_and_a_bad_expiry(
    app: Flask, admin_client: FlaskClient
) -> None:
    for fields in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["contacts:delete"]},
        {"name": "x", "scopes": ["admin"], "expires_days": "0"},
        {"name": "x", "scopes": ["admin"], "expires_days": "soon"},
        {"name": " ", "scopes": ["admin"]},
    ):
        response = post_form(admin_client, PAGE, fields)
        assert response.status_code == 400, fields
        assert "field-errors" in response.get_data(as_text=True)
    assert stored_tokens(app) == []
    assert audited(app, "api_token.create") == []


def test_an_admin_revokes_a_token_with_the_button(
    app: Flask, admin_client: FlaskClient, admin_id: int, client: FlaskClient
) -> None:
    secret = create(admin_client)
    (token,) = stored_tokens(app)
    url = f"{PAGE}/{token.prefix}/revoke"
    assert admin_client.post(url).status_code == 400  # no CSRF token: nothing happens
    assert stored_tokens(app)[0].revoked_at is None
    response = admin_client.post(url, data={"csrf_token": csrf_token(admin_client, PAGE)})
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    assert stored_tokens(app)[0].revoked_at is not None
    assert [(e.actor_id, e.target_id) for e in audited(app, "api_token.revoke")] == [
        (admin_id, token.prefix)
    ]
    assert_problem(call(client, secret, "/api/v1/topics"), 401)
    again = admin_client.post(url, data={"csrf_token": csrf_token(admin_client, PAGE)})
    assert again.status_code == 404
    unknown = admin_client.post(
        f"{PAGE}/ffffffff/revoke", data={"csrf_token": csrf_token(admin_client, PAGE)}
    )
    assert unknown.status_code == 404
    listed = admin_client.get(PAGE).get_data(as_text=True)
    assert "badge-cancelled" in listed and url not in listed  # no button for a revoked one


def test_tokens_from_the_command_line_are_listed_and_the_menu_links_the_page(
    app: Flask, admin_client: FlaskClient, staff_client: FlaskClient
) -> None:
    token_for(app)
    page = admin_client.get(PAGE).get_data(as_text=True)
    assert "tests" in page and "sync" in page
    assert f'href="{PAGE}"' in admin_client.get("/staff/").get_data(as_text=True)
    assert f'href="{PAGE}"' not in staff_client.get("/staff/").get_data(as_text=True)
    assert staff_client.get(PAGE).status_code == 403
