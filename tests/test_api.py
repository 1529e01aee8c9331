"""The REST API at /api/v1: tokens and scopes, problem documents, pagination, the
audit entry of every call, and the double opt-in asked for by another system."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp.extensions import db
from consentapp.models import (
    ApiScope,
    ApiToken,
    AuditEntry,
    ConsentChannel,
    ConsentEvent,
    Contact,
    utcnow,
)
from consentapp.services.api_tokens import digest
from consentapp.services.audit import verify_chain
from consentapp.services.contacts import find_contact
from consentapp.services.erasure import erase_person
from consentapp.services.suppression import suppress
from tests.builders import ADDRESS, bulk_subscribers, make_campaign
from tests.helpers import PROBLEM, assert_problem, call, deliver, public_id_of, token_for
from tests.services import SMTPServer


def test_create_api_token_prints_the_token_last_and_keeps_only_its_hash(
    app: Flask, runner: FlaskCliRunner, client: FlaskClient
) -> None:
    result = runner.invoke(
        args=["create-api-token", "CRM sync", "--scopes", "topics:read,contacts:read"]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    with app.app_context():
        token = db.session.scalars(sa.select(ApiToken)).one()
        assert token.name == "CRM sync"
        assert token.scope_set == {"topics:read", "contacts:read"}
        assert token.token_sha256 == digest(secret) and secret not in token.token_sha256
        assert token.prefix in secret and token.expires_at is None
    assert call(client, secret, "/api/v1/topics").status_code == 200


def test_create_api_token_refuses_an_unknown_scope_and_sets_expiry(
    app: Flask, runner: FlaskCliRunner
) -> None:
    refused = runner.invoke(args=["create-api-token", "x", "--scopes", "contacts:delete"])
    assert refused.exit_code != 0 and "contacts:delete" in refused.output
    nameless = runner.invoke(args=["create-api-token", " ", "--scopes", "admin"])
    assert nameless.exit_code != 0 and "name" in nameless.output
    made = runner.invoke(
        args=["create-api-token", "y", "--scopes", "admin", "--expires-days", "30"]
    )
    assert made.exit_code == 0, made.output
    with app.app_context():
        token = db.session.scalars(sa.select(ApiToken)).one()
        assert token.expires_at is not None
        assert timedelta(days=29) < token.expires_at - utcnow() <= timedelta(days=30)


def test_calls_without_a_usable_token_are_401(app: Flask, client: FlaskClient) -> None:
    body = assert_problem(client.get("/api/v1/topics"), 401)
    assert "Bearer" in str(body["detail"])
    assert client.get("/api/v1/topics").headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(call(client, "ca_0000_wrong", "/api/v1/topics"), 401)
    assert_problem(
        client.get("/api/v1/topics", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401
    )
    expired = token_for(app, ApiScope.TOPICS_READ, expires_days=1)
    revoked = token_for(app, ApiScope.TOPICS_READ)
    with app.app_context():
        for token in db.session.scalars(sa.select(ApiToken)):
            if digest(expired) == token.token_sha256:
                token.expires_at = utcnow() - timedelta(seconds=1)
            else:
                token.revoked_at = utcnow()
        db.session.commit()
    assert_problem(call(client, expired, "/api/v1/topics"), 401)
    assert_problem(call(client, revoked, "/api/v1/topics"), 401)


def test_a_missing_scope_is_403_and_names_the_scope(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.TOPICS_READ)
    body = assert_problem(call(client, secret, "/api/v1/contacts?q=a"), 403)
    assert "contacts:read" in str(body["detail"])
    assert_problem(
        call(client, secret, "/api/v1/subscriptions", method="POST", json={"email": ADDRESS}), 403
    )
    assert_problem(call(client, secret, "/api/v1/suppressions/check?email=a@b.be"), 403)
    assert call(client, secret, "/api/v1/topics").status_code == 200


def test_every_call_writes_an_audit_entry_naming_the_token(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.TOPICS_READ)
    call(client, secret, "/api/v1/topics")
    call(client, secret, "/api/v1/contacts")  # refused for scope: still audited
    with app.app_context():
        token = db.session.scalars(sa.select(ApiToken)).one()
        entries = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "api.call").order_by(AuditEntry.id)
        ).all()
        assert [e.details for e in entries] == [
            {"method": "GET", "path": "/api/v1/topics"},
            {"method": "GET", "path": "/api/v1/contacts"},
        ]
        assert {e.actor_label for e in entries} == {f"API token {token.prefix} (sync)"}
        assert {e.target_id for e in entries} == {token.prefix}
        assert token.last_used_at is not None
        assert verify_chain().broken_id is None


def test_topics_are_listed_page_by_page_with_a_cursor(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.TOPICS_READ)
    everything = call(client, secret, "/api/v1/topics").get_json()
    assert len(everything["items"]) >= 2 and everything["next_cursor"] is None
    slugs: list[str] = []
    path = "/api/v1/topics?limit=1"
    while True:
        page = call(client, secret, path).get_json()
        slugs += [item["slug"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        path = f"/api/v1/topics?limit=1&cursor={page['next_cursor']}"
    assert slugs == [item["slug"] for item in everything["items"]]
    body = assert_problem(call(client, secret, "/api/v1/topics?cursor=bm9wZQ"), 422)
    assert body["errors"] == [{"field": "cursor", "message": "unknown cursor"}]


@pytest.mark.usefixtures("confirmed")
def test_contacts_are_found_by_address_and_by_text(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.CONTACTS_READ)
    found = call(client, secret, f"/api/v1/contacts?email={ADDRESS.upper()}").get_json()
    assert [c["email"] for c in found["items"]] == [ADDRESS]
    assert call(client, secret, "/api/v1/contacts?email=nobody@example.be").get_json() == {
        "items": [],
        "next_cursor": None,
    }
    by_text = call(client, secret, "/api/v1/contacts?q=lies").get_json()
    assert [c["email"] for c in by_text["items"]] == [ADDRESS]
    assert call(client, secret, "/api/v1/contacts?q=zzzz").get_json()["items"] == []
    body = assert_problem(call(client, secret, "/api/v1/contacts?email=not-an-address"), 422)
    assert [e["field"] for e in body["errors"]] == ["email"]  # type: ignore[union-attr]


def test_contacts_are_listed_newest_first_and_a_new_one_shifts_no_page(
    app: Flask, client: FlaskClient
) -> None:
    bulk_subscribers(app, 7)
    with app.app_context():
        expected = db.session.scalars(
            sa.select(Contact.public_id).order_by(Contact.id.desc())
        ).all()
    secret = token_for(app, ApiScope.CONTACTS_READ)
    page = call(client, secret, "/api/v1/contacts?limit=3").get_json()
    seen = [item["id"] for item in page["items"]]
    with app.app_context():  # a contact arrives while the list is being read
        db.session.add(
            Contact(
                public_id="late",
                email="late@example.be",
                language="nl",
                source_channel=ConsentChannel.WEB_FORM,
            )
        )
        db.session.commit()
    while page["next_cursor"]:
        page = call(client, secret, f"/api/v1/contacts?limit=3&cursor={page['next_cursor']}")
        page = page.get_json()
        seen += [item["id"] for item in page["items"]]
    assert seen == list(expected)  # each once, newest first, the late one on no page


@pytest.mark.usefixtures("confirmed")
def test_a_contact_is_read_with_its_subscriptions_and_ledger(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, ApiScope.CONTACTS_READ, ApiScope.LEDGER_READ)
    public_id = public_id_of(app, ADDRESS)
    contact = call(client, secret, f"/api/v1/contacts/{public_id}").get_json()
    assert contact["id"] == public_id and contact["email"] == ADDRESS
    assert [(s["topic"], s["status"]) for s in contact["subscriptions"]] == [
        ("product-updates", "confirmed")
    ]
    ledger = call(client, secret, f"/api/v1/contacts/{public_id}/ledger").get_json()
    assert [(e["action"], e["topic"]) for e in ledger["items"]][:2] == [
        ("confirmed", "product-updates"),
        ("requested", "product-updates"),
    ]
    first = call(client, secret, f"/api/v1/contacts/{public_id}/ledger?limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    rest = call(
        client, secret, f"/api/v1/contacts/{public_id}/ledger?cursor={first['next_cursor']}"
    ).get_json()
    assert first["items"] + rest["items"] == ledger["items"]
    assert_problem(call(client, secret, "/api/v1/contacts/unknown"), 404)
    assert_problem(call(client, secret, "/api/v1/contacts/unknown/ledger"), 404)


def test_post_subscriptions_starts_the_double_opt_in(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    secret = token_for(app, ApiScope.SUBSCRIPTIONS_WRITE)
    body = {"email": "nieuw@example.be", "name": "Nieuw", "topics": ["product-updates"]}
    response = call(client, secret, "/api/v1/subscriptions", method="POST", json=body)
    assert response.status_code == 202, response.get_data(as_text=True)
    deliver(app)
    assert [m["To"] for m in smtp_server.messages] == ["nieuw@example.be"]
    with app.app_context():
        token = db.session.scalars(sa.select(ApiToken)).one()
        rows = db.session.scalars(
            sa.select(ConsentEvent).where(
                ConsentEvent.subject_id == public_id_of(app, "nieuw@example.be")
            )
        ).all()
        assert [(r.action.value, r.channel.value) for r in rows] == [("requested", "api")]
        assert rows[0].details is not None and rows[0].details["api_token"] == token.prefix


@pytest.mark.usefixtures("confirmed")
def test_post_subscriptions_answers_the_same_for_known_and_unknown_addresses(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, ApiScope.SUBSCRIPTIONS_WRITE)
    answers = []
    for email in (ADDRESS, "onbekend@example.be"):
        body = {"email": email, "name": "X", "topics": ["product-updates"], "language": "en"}
        response = call(client, secret, "/api/v1/subscriptions", method="POST", json=body)
        answers.append((response.status_code, response.mimetype, response.get_data()))
    assert answers[0] == answers[1] and answers[0][0] == 202


def test_post_subscriptions_refuses_a_body_that_is_not_json(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, ApiScope.SUBSCRIPTIONS_WRITE)
    form = call(client, secret, "/api/v1/subscriptions", method="POST", data={"email": ADDRESS})
    assert_problem(form, 415)
    broken = call(
        client,
        secret,
        "/api/v1/subscriptions",
        method="POST",
        data="{not json",
        content_type="application/json",
    )
    assert_problem(broken, 422)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "X", "topics": ["product-updates"]}, ["email"]),
        ({"email": "x@example.be", "topics": []}, ["topics"]),
        ({"email": "x@example.be", "topics": ["no-such-topic"]}, ["topics"]),
        ({"email": "x@example.be", "topics": ["product-updates"], "language": "fr"}, ["language"]),
        ({"email": "not an address", "topics": ["product-updates"]}, ["email"]),
        ({"email": "x@example.be", "topics": "product-updates", "extra": 1}, ["extra", "topics"]),
    ],
)
def test_invalid_fields_are_422_naming_the_fields(
    app: Flask, client: FlaskClient, body: dict[str, object], fields: list[str]
) -> None:
    secret = token_for(app, ApiScope.SUBSCRIPTIONS_WRITE)
    response = call(client, secret, "/api/v1/subscriptions", method="POST", json=body)
    problem = assert_problem(response, 422)
    errors = problem["errors"]
    assert isinstance(errors, list)
    assert sorted(e["field"] for e in errors) == fields
    with app.app_context():
        assert db.session.scalars(sa.select(ConsentEvent)).all() == []


def test_the_suppression_check_says_whether_mail_is_stopped(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, ApiScope.SUPPRESSION_READ)
    with app.app_context():
        suppress("stop@example.be", "complaint")
        db.session.commit()
    check = "/api/v1/suppressions/check?email="
    assert call(client, secret, check + "STOP@example.be").get_json() == {"suppressed": True}
    assert call(client, secret, check + "go@example.be").get_json() == {"suppressed": False}
    assert_problem(call(client, secret, "/api/v1/suppressions/check"), 422)


def test_calls_over_the_rate_limit_are_429_with_retry_after(
    app: Flask, client: FlaskClient
) -> None:
    app.config["API_RATE_LIMIT"] = "2 per minute"
    secret, other = token_for(app, ApiScope.TOPICS_READ), token_for(app, ApiScope.TOPICS_READ)
    assert [call(client, secret, "/api/v1/topics").status_code for _ in range(2)] == [200, 200]
    refused = call(client, secret, "/api/v1/topics")
    assert_problem(refused, 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 61
    assert call(client, other, "/api/v1/topics").status_code == 200  # counted per token
    # One count over every operation, not one per operation.
    assert_problem(call(client, other, "/api/v1/campaigns"), 403)
    assert_problem(call(client, other, "/api/v1/contacts"), 429)
    # Only a refusal says when to come back; answers that went through do not.
    assert "Retry-After" not in call(client, token_for(app), "/api/v1/topics").headers


def test_made_up_tokens_share_one_count_per_client_address(app: Flask, client: FlaskClient) -> None:
    app.config["API_RATE_LIMIT"] = "3 per minute"
    answers = [
        call(client, f"ca_{number:08x}_made-up", "/api/v1/topics").status_code
        for number in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    # A real token from the same address keeps its own count.
    assert call(client, token_for(app, ApiScope.TOPICS_READ), "/api/v1/topics").status_code == 200


def test_unknown_api_addresses_and_methods_answer_with_problems(
    app: Flask, client: FlaskClient
) -> None:
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert_problem(client.delete("/api/v1/topics"), 405)


def test_the_openapi_document_is_3_1_and_describes_every_operation(
    app: Flask, client: FlaskClient
) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/api/v1/topics",
        "/api/v1/contacts",
        "/api/v1/contacts/{public_id}",
        "/api/v1/contacts/{public_id}/ledger",
        "/api/v1/subscriptions",
        "/api/v1/suppressions/check",
        "/api/v1/contacts/{public_id}/subscriptions/{topic}",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{public_id}",
        "/api/v1/campaigns/{public_id}/schedule",
        "/api/v1/data-requests",
        "/api/v1/data-requests/{public_id}",
        "/api/v1/contacts/{public_id}/erasure",
    }
    assert set(doc["paths"]["/api/v1/contacts"]) == {"get", "post"}
    assert set(doc["paths"]["/api/v1/contacts/{public_id}"]) == {"get", "patch"}
    assert set(doc["paths"]["/api/v1/campaigns"]) == {"get", "post"}
    assert set(doc["paths"]["/api/v1/data-requests"]) == {"get", "post"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Operations are named by their views, schemas by their models: stable names for
    # generated clients and scripts.
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert {f"api.{name}" for name in operation_ids} <= set(app.view_functions)
    assert "ContactCreate" in doc["components"]["schemas"]
    post = doc["paths"]["/api/v1/subscriptions"]["post"]
    assert "subscriptions:write" in post["description"]
    assert set(post["responses"]["422"]["content"]) == {PROBLEM}
    assert {"202", "401", "403", "415", "422", "429"} <= set(post["responses"])


def test_the_docs_page_is_served_from_static_without_a_cdn(client: FlaskClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    page.close()
    assert "/static/api/docs.js" in html and "https://" not in html
    script = client.get("/static/api/docs.js")
    assert script.status_code == 200
    assert "/api/v1/openapi.json" in script.get_data(as_text=True)
    script.close()


def capture_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": "klant@example.be",
        "name": "Klant",
        "channel": "agreement",
        "obtained_on": "2026-11-30",
        "evidence": "Agreement 2026-118, signed",
        "topics": ["product-updates"],
        "agreement_covers_newsletters": True,
    }
    return body | changes


def test_a_contact_is_created_with_consent_evidence(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    secret = token_for(app, ApiScope.CONTACTS_WRITE, ApiScope.CONTACTS_READ)
    response = call(client, secret, "/api/v1/contacts", method="POST", json=capture_body())
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["created"] is True and body["confirmed"] == ["product-updates"]
    assert body["id"] == body["contact"]["id"] == public_id_of(app, "klant@example.be")
    assert [(s["topic"], s["status"]) for s in body["contact"]["subscriptions"]] == [
        ("product-updates", "confirmed")
    ]
    again = call(client, secret, "/api/v1/contacts", method="POST", json=capture_body())
    assert again.status_code == 200 and again.get_json()["created"] is False
    with app.app_context():
        token = db.session.scalars(sa.select(ApiToken)).one()
        given = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.evidence == "Agreement 2026-118, signed")
        ).first()
        assert given is not None and given.details is not None
        assert given.details["recorded_by"] == token.label
        captured = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "consent.capture")
        ).all()
        assert len(captured) == 2 and {e.actor_label for e in captured} == {token.label}
    # Writing grants no reading: a token without contacts:read gets the id, not the record.
    write_only = token_for(app, ApiScope.CONTACTS_WRITE)
    answer = call(client, write_only, "/api/v1/contacts", method="POST", json=capture_body())
    assert answer.get_json()["contact"] is None and answer.get_json()["id"] == body["id"]


def test_evidence_that_does_not_cover_newsletters_starts_the_double_opt_in(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    secret = token_for(app, ApiScope.CONTACTS_WRITE)
    body = capture_body(channel="phone", agreement_covers_newsletters=False, phone="0470123456")
    created = call(client, secret, "/api/v1/contacts", method="POST", json=body).get_json()
    assert created["confirmed"] == [] and created["pending"] == ["product-updates"]
    deliver(app)
    assert [m["To"] for m in smtp_server.messages] == ["klant@example.be"]


def test_creating_a_contact_refuses_a_suppressed_address_and_bad_fields(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, ApiScope.CONTACTS_WRITE)
    with app.app_context():
        suppress("klant@example.be", "complaint")
        db.session.commit()
    assert_problem(
        call(client, secret, "/api/v1/contacts", method="POST", json=capture_body()), 409
    )
    bad = capture_body(email="x@example.be", channel="fax", obtained_on="yesterday", evidence=" ")
    problem = assert_problem(call(client, secret, "/api/v1/contacts", method="POST", json=bad), 422)
    assert sorted(e["field"] for e in problem["errors"]) == [  # type: ignore[attr-defined]
        "channel",
        "evidence",
        "obtained_on",
    ]
    phone = capture_body(email="x@example.be", phone="12")
    problem = assert_problem(
        call(client, secret, "/api/v1/contacts", method="POST", json=phone), 422
    )
    assert problem["errors"][0]["field"] == "phone"  # type: ignore[index]


@pytest.mark.usefixtures("confirmed")
def test_a_contact_is_rectified_with_a_reason(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.CONTACTS_WRITE, ApiScope.CONTACTS_READ)
    public_id = public_id_of(app, ADDRESS)
    path = f"/api/v1/contacts/{public_id}"
    changes = {"name": "Lies Peeters", "phone": "0470 12 34 56", "reason": "CRM correction"}
    response = call(client, secret, path, method="PATCH", json=changes)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["changed"] == ["name", "phone"]
    assert response.get_json()["contact"]["name"] == "Lies Peeters"
    with app.app_context():
        rows = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "rectified")
        ).all()
        assert sorted(r.details["field"] for r in rows if r.details) == ["name", "phone"]
    assert_problem(call(client, secret, path, method="PATCH", json={"name": "X"}), 422)
    assert_problem(
        call(client, secret, "/api/v1/contacts/unknown", method="PATCH", json=changes), 404
    )
    call(client, secret, "/api/v1/contacts", method="POST", json=capture_body())
    taken = {"email": "klant@example.be", "reason": "typo"}
    assert_problem(call(client, secret, path, method="PATCH", json=taken), 409)


@pytest.mark.usefixtures("confirmed")
def test_a_topic_is_withdrawn_on_the_persons_behalf(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.SUBSCRIPTIONS_WRITE, ApiScope.CONTACTS_READ)
    public_id = public_id_of(app, ADDRESS)
    path = f"/api/v1/contacts/{public_id}/subscriptions/product-updates"
    assert call(client, secret, path, method="DELETE").get_json() == {
        "withdrawn": ["product-updates"]
    }
    assert call(client, secret, path, method="DELETE").get_json() == {"withdrawn": []}
    contact = call(client, secret, f"/api/v1/contacts/{public_id}").get_json()
    assert [s["status"] for s in contact["subscriptions"]] == ["unsubscribed"]
    unknown = f"/api/v1/contacts/{public_id}/subscriptions/no-such-topic"
    assert_problem(call(client, secret, unknown, method="DELETE"), 404)
    with app.app_context():  # the ledger says another system did it, and which token
        row = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "withdrawn")
        ).one()
        token = db.session.scalars(sa.select(ApiToken)).one()
        assert row.channel == ConsentChannel.API and row.details == {"by": token.label}


def test_campaigns_are_listed_and_read_with_their_figures(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.CAMPAIGNS_READ)
    first, second = make_campaign(app), make_campaign(app, "product-updates")
    listed = call(client, secret, "/api/v1/campaigns?limit=1").get_json()
    assert [c["id"] for c in listed["items"]] == [second]
    rest = call(client, secret, f"/api/v1/campaigns?cursor={listed['next_cursor']}").get_json()
    assert [c["id"] for c in rest["items"]] == [first] and rest["next_cursor"] is None
    one = call(client, secret, f"/api/v1/campaigns/{first}").get_json()
    assert one["topic"] == "service-news" and one["status"] == "draft"
    assert one["report"] == {"by_status": {}, "remaining": 0, "failures": {}, "unsubscribes": 0}
    assert_problem(call(client, secret, "/api/v1/campaigns/unknown"), 404)
    assert_problem(call(client, token_for(app, ApiScope.ADMIN), "/api/v1/campaigns"), 403)


def test_erasing_a_person_keeps_the_audit_of_the_systems_that_called(
    app: Flask, client: FlaskClient
) -> None:
    """The calling system's address is not the person's: the ledger row of a subscription
    asked for through the API keeps no address, and erasing the person redacts the entries
    about them but not every other call that system made from the same address."""
    secret = token_for(app)
    body = {"email": "weg@example.be", "topics": ["product-updates"], "language": "nl"}
    assert (
        call(client, secret, "/api/v1/subscriptions", method="POST", json=body).status_code == 202
    )
    assert call(client, secret, "/api/v1/topics").status_code == 200
    with app.app_context():
        public_id = public_id_of(app, "weg@example.be")
    changes = {"name": "Weg", "reason": "CRM record"}
    patched = call(client, secret, f"/api/v1/contacts/{public_id}", method="PATCH", json=changes)
    assert patched.status_code == 200  # an audit entry about the person, made by the token
    with app.test_request_context():
        contact = find_contact("weg@example.be")
        assert contact is not None
        [row] = db.session.scalars(
            sa.select(ConsentEvent).where(
                ConsentEvent.subject_id == contact.public_id, ConsentEvent.topic_id.is_not(None)
            )
        ).all()
        assert row.client_address is None and row.channel.value == "api"
        erase_person(contact)
        db.session.commit()
        calls = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "api.call")
        ).all()
        assert len(calls) == 3
        assert all(entry.client_address and entry.details for entry in calls)
        assert verify_chain().ok


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/subscriptions",
            {"email": ADDRESS, "name": "a\u0000b", "topics": ["product-updates"]},
            "name",
        ),
        (
            "/api/v1/subscriptions",
            {"email": ADDRESS, "name": "two\nlines", "topics": ["product-updates"]},
            "name",
        ),
        ("/api/v1/subscriptions", {"email": ADDRESS, "topics": ["product\u0000updates"]}, "topics"),
        (
            "/api/v1/data-requests",
            {"kind": "access", "email": ADDRESS, "channel": "phone", "note": "x\u0000"},
            "note",
        ),
    ],
)
def test_control_codes_in_text_are_422_naming_the_field(
    app: Flask, client: FlaskClient, path: str, body: dict[str, object], field: str
) -> None:
    """Text the forms refuse (a NUL byte, a line break in a one-line field) is a 422 on
    that field, never a 500 from the database."""
    answer = assert_problem(call(client, token_for(app), path, method="POST", json=body), 422)
    assert [e["field"] for e in answer["errors"]] == [field]  # type: ignore[union-attr]
    search = call(client, token_for(app), "/api/v1/contacts?q=%00")
    assert_problem(search, 422)
