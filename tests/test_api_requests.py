"""The REST API's data-subject requests and campaign steps: logging a request that came
by mail or phone, starting an erasure (never carried out by the API), the queue, and
writing and scheduling a newsletter with the `admin` scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import (
    ApiScope,
    ApiToken,
    AuditEntry,
    Campaign,
    CampaignStatus,
    Contact,
    DataRequest,
    RequestStatus,
)
from consentapp.services import audit
from consentapp.services.audit import verify_chain
from consentapp.services.contacts import find_contact
from tests.builders import ADDRESS, make_campaign
from tests.helpers import (
    assert_problem,
    call,
    csrf_token,
    prefixed_token,
    public_id_of,
    token_for,
)

WRITE = ApiScope.REQUESTS_WRITE
READ = ApiScope.REQUESTS_READ


def logged_entries(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def token_label(app: Flask) -> str:
    with app.app_context():
        return db.session.scalars(sa.select(ApiToken)).one().label


def stored_request(app: Flask, public_id: str) -> DataRequest:
    with app.app_context():
        found = db.session.scalar(sa.select(DataRequest).where(DataRequest.public_id == public_id))
        assert found is not None
        db.session.expunge(found)
        return found


def request_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "access",
        "email": ADDRESS,
        "channel": "phone",
        "note": "Called on 1 December, asked for a copy",
    }
    return body | changes


@pytest.mark.usefixtures("confirmed")
def test_an_erasure_is_logged_for_staff_to_check_and_carry_out(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, WRITE)
    public_id = public_id_of(app, ADDRESS)
    path = f"/api/v1/contacts/{public_id}/erasure"
    body = {"channel": "email", "note": "Mail of 1 December to info@"}
    response = call(client, secret, path, method="POST", json=body)
    assert response.status_code == 202, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["status"] == "accepted" and answer["kind"] == "erasure"
    logged = stored_request(app, answer["id"])
    assert logged.status == RequestStatus.UNVERIFIED and logged.verified_at is None
    assert logged.subject_id == public_id and logged.channel == "email"
    assert logged.note == "Mail of 1 December to info@" and logged.logged_by_id is None
    due = datetime.fromisoformat(answer["due_at"])
    assert due == logged.due_at.replace(tzinfo=UTC) or due == logged.due_at
    assert timedelta(days=27) < due - datetime.now(UTC) <= timedelta(days=31)
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None and contact.erased_at is None  # nothing is erased yet
    entries = logged_entries(app, "request.logged")
    assert [(e.target_id, e.actor_label, e.actor_id) for e in entries] == [
        (answer["id"], token_label(app), None)
    ]
    again = assert_problem(call(client, secret, path, method="POST", json=body), 409)
    assert answer["id"] in str(again["detail"])


def test_an_erasure_of_an_unknown_contact_and_with_bad_fields_is_refused(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, WRITE)
    unknown = "/api/v1/contacts/abcdefabcdefabcdef/erasure"
    assert_problem(call(client, secret, unknown, method="POST", json={"channel": "email"}), 404)
    bad = {"channel": "web", "language": "fr", "verification": "passport"}
    problem = assert_problem(call(client, secret, unknown, method="POST", json=bad), 422)
    assert sorted(e["field"] for e in problem["errors"]) == [  # type: ignore[attr-defined]
        "channel",
        "verification",
    ]
    with app.app_context():
        assert db.session.scalars(sa.select(DataRequest)).all() == []


@pytest.mark.usefixtures("confirmed")
def test_an_erased_contact_cannot_be_erased_again(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, WRITE)
    public_id = public_id_of(app, ADDRESS)
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.public_id == public_id))
        assert contact is not None
        contact.erased_at = datetime.now(UTC)
        db.session.commit()
    path = f"/api/v1/contacts/{public_id}/erasure"
    assert_problem(call(client, secret, path, method="POST", json={"channel": "letter"}), 404)


@pytest.mark.usefixtures("confirmed")
def test_logging_a_request_answers_the_same_for_known_and_unknown_addresses(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, WRITE)
    answers: list[tuple[int, str, dict[str, Any]]] = []
    for email in (ADDRESS, "onbekend@example.be"):
        response = call(
            client, secret, "/api/v1/data-requests", method="POST", json=request_body(email=email)
        )
        body = response.get_json()
        ids = body.pop("id"), datetime.fromisoformat(body.pop("due_at")).date()
        answers.append((response.status_code, response.mimetype, body | {"due": ids[1]}))
    assert answers[0] == answers[1] and answers[0][0] == 202
    with app.app_context():
        rows = db.session.scalars(sa.select(DataRequest).order_by(DataRequest.id)).all()
        assert [(r.email, r.status, r.kind) for r in rows] == [
            (ADDRESS, RequestStatus.UNVERIFIED, "access"),
            ("onbekend@example.be", RequestStatus.UNVERIFIED, "access"),
        ]
        assert rows[0].subject_id is not None and rows[1].subject_id is None
        assert all(r.note == "Called on 1 December, asked for a copy" for r in rows)
    assert len(logged_entries(app, "request.logged")) == 2


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"kind": "deletion"}, ["kind"]),
        ({"channel": "web"}, ["channel"]),
        ({"email": "not an address"}, ["email"]),
        ({"language": "fr"}, ["language"]),
        ({"note": "x" * 2001, "verification": "id card"}, ["note", "verification"]),
    ],
)
def test_a_request_with_bad_fields_is_422_naming_them(
    app: Flask, client: FlaskClient, changes: dict[str, object], fields: list[str]
) -> None:
    secret = token_for(app, WRITE)
    body = request_body(**changes)
    problem = assert_problem(
        call(client, secret, "/api/v1/data-requests", method="POST", json=body), 422
    )
    assert sorted(e["field"] for e in problem["errors"]) == fields  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalars(sa.select(DataRequest)).all() == []


def test_a_request_is_logged_with_its_audit_entry_or_not_at_all(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = token_for(app, WRITE)
    original = audit.record

    def failing(action: str, **kwargs: Any) -> AuditEntry:
        if action == "request.logged":
            raise RuntimeError("the audit log is full")
        return original(action, **kwargs)

    monkeypatch.setattr(audit, "record", failing)
    with pytest.raises(RuntimeError):
        call(client, secret, "/api/v1/data-requests", method="POST", json=request_body())
    monkeypatch.undo()
    with app.app_context():
        db.session.rollback()
        assert db.session.scalars(sa.select(DataRequest)).all() == []
    response = call(client, secret, "/api/v1/data-requests", method="POST", json=request_body())
    assert response.status_code == 202
    with app.app_context():
        assert len(db.session.scalars(sa.select(DataRequest)).all()) == 1
        assert verify_chain().ok


def test_requests_are_listed_filtered_and_read(app: Flask, client: FlaskClient) -> None:
    writer, reader = token_for(app, WRITE), token_for(app, READ)
    made = []
    for kind, email in (("access", "a@example.be"), ("erasure", "b@example.be")):
        for _ in range(2):
            body = request_body(kind=kind, email=email)
            made.append(
                call(client, writer, "/api/v1/data-requests", method="POST", json=body).get_json()
            )
    everything = call(client, reader, "/api/v1/data-requests").get_json()
    assert [r["id"] for r in everything["items"]] == [m["id"] for m in reversed(made)]
    assert everything["next_cursor"] is None
    seen: list[str] = []
    path = "/api/v1/data-requests?kind=erasure&limit=1"
    while path:
        page = call(client, reader, path).get_json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        path = f"/api/v1/data-requests?kind=erasure&limit=1&cursor={cursor}" if cursor else ""
    assert seen == [made[3]["id"], made[2]["id"]]
    assert call(client, reader, "/api/v1/data-requests?status=done").get_json()["items"] == []
    one = call(client, reader, f"/api/v1/data-requests/{made[0]['id']}").get_json()
    assert one["kind"] == "access" and one["status"] == "unverified"
    assert one["email"] == "a@example.be" and one["channel"] == "phone"
    assert one["verified_at"] is None and one["note"] == "Called on 1 December, asked for a copy"
    assert_problem(call(client, reader, "/api/v1/data-requests/unknown"), 404)
    bad = assert_problem(call(client, reader, "/api/v1/data-requests?status=lost"), 422)
    assert [e["field"] for e in bad["errors"]] == ["status"]  # type: ignore[attr-defined]


def test_request_operations_need_their_scopes(app: Flask, client: FlaskClient) -> None:
    reader = token_for(app, READ, ApiScope.CONTACTS_WRITE)
    refused = assert_problem(
        call(client, reader, "/api/v1/data-requests", method="POST", json=request_body()), 403
    )
    assert "requests:write" in str(refused["detail"])
    erasure = "/api/v1/contacts/abcdefabcdefabcdef/erasure"
    body = {"channel": "email"}
    assert "requests:write" in str(
        assert_problem(call(client, reader, erasure, method="POST", json=body), 403)["detail"]
    )
    writer = token_for(app, WRITE)
    assert "requests:read" in str(
        assert_problem(call(client, writer, "/api/v1/data-requests"), 403)["detail"]
    )
    with app.app_context():
        assert db.session.scalars(sa.select(DataRequest)).all() == []


def draft_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "topic": "product-updates",
        "subject_nl": "Nieuw in december",
        "body_nl": "Wat er **nieuw** is.",
        "subject_en": "New in December",
        "body_en": "What is **new**.",
    }
    return body | changes


def test_an_admin_token_writes_a_draft_and_schedules_it(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.ADMIN)
    response = call(client, secret, "/api/v1/campaigns", method="POST", json=draft_body())
    assert response.status_code == 201, response.get_data(as_text=True)
    draft = response.get_json()
    assert draft["status"] == "draft" and draft["topic"] == "product-updates"
    assert draft["subject_nl"] == "Nieuw in december"
    at = "2026-12-24T09:00:00+01:00"
    path = f"/api/v1/campaigns/{draft['id']}/schedule"
    scheduled = call(client, secret, path, method="POST", json={"at": at})
    assert scheduled.status_code == 200, scheduled.get_data(as_text=True)
    assert scheduled.get_json()["status"] == "scheduled"
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == draft["id"]))
        assert campaign is not None and campaign.body_nl == "Wat er **nieuw** is."
        assert campaign.scheduled_at is not None
        assert campaign.scheduled_at.replace(tzinfo=UTC) == datetime(2026, 12, 24, 8, tzinfo=UTC)
        assert campaign.created_by_id is None and campaign.approved_by_id is None
    label = token_label(app)
    for action in ("campaign.create", "campaign.schedule"):
        assert [(e.target_id, e.actor_label, e.actor_id) for e in logged_entries(app, action)] == [
            (draft["id"], label, None)
        ]
    again = assert_problem(call(client, secret, path, method="POST", json={}), 409)
    assert "draft" in str(again["detail"])
    assert_problem(
        call(client, secret, "/api/v1/campaigns/unknown/schedule", method="POST", json={}), 404
    )


def test_scheduling_without_a_time_sends_now(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.ADMIN)
    public_id = make_campaign(app)
    before = datetime.now(UTC)
    path = f"/api/v1/campaigns/{public_id}/schedule"
    assert call(client, secret, path, method="POST", json={}).status_code == 200
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None and campaign.status == CampaignStatus.SCHEDULED
        assert campaign.scheduled_at is not None
        assert campaign.scheduled_at.replace(tzinfo=UTC) >= before - timedelta(seconds=1)


def test_campaign_steps_need_the_admin_scope(app: Flask, client: FlaskClient) -> None:
    secret = token_for(app, ApiScope.CAMPAIGNS_READ, ApiScope.CAMPAIGNS_WRITE)
    public_id = make_campaign(app)
    refused = assert_problem(
        call(client, secret, "/api/v1/campaigns", method="POST", json=draft_body()), 403
    )
    assert "admin" in str(refused["detail"])
    path = f"/api/v1/campaigns/{public_id}/schedule"
    assert "admin" in str(assert_problem(call(client, secret, path, method="POST", json={}), 403))
    with app.app_context():
        assert db.session.scalars(sa.select(Campaign.status)).all() == [CampaignStatus.DRAFT]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"topic": "no-such-topic"}, ["topic"]),
        ({"subject_nl": "Two\nlines"}, ["subject_nl"]),
        ({"subject_nl": "   ", "body_nl": " "}, ["body_nl", "subject_nl"]),
        ({"subject_en": "x" * 201, "sender": "me"}, ["sender", "subject_en"]),
    ],
)
def test_a_draft_with_bad_fields_is_422_naming_them(
    app: Flask, client: FlaskClient, changes: dict[str, object], fields: list[str]
) -> None:
    secret = token_for(app, ApiScope.ADMIN)
    body = draft_body(**changes)
    problem = assert_problem(
        call(client, secret, "/api/v1/campaigns", method="POST", json=body), 422
    )
    assert sorted(e["field"] for e in problem["errors"]) == fields  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalars(sa.select(Campaign)).all() == []


@pytest.mark.parametrize(
    ("at", "field"),
    [("2026-12-24T09:00:00", "at"), ("tomorrow", "at"), ("0001-01-01T00:00:00+01:00", "at")],
)
def test_a_schedule_time_without_an_offset_or_out_of_range_is_422(
    app: Flask, client: FlaskClient, at: str, field: str
) -> None:
    secret = token_for(app, ApiScope.ADMIN)
    public_id = make_campaign(app)
    path = f"/api/v1/campaigns/{public_id}/schedule"
    problem = assert_problem(call(client, secret, path, method="POST", json={"at": at}), 422)
    assert [e["field"] for e in problem["errors"]] == [field]  # type: ignore[attr-defined]
    with app.app_context():
        assert db.session.scalars(sa.select(Campaign.status)).all() == [CampaignStatus.DRAFT]


@pytest.mark.usefixtures("confirmed")
def test_staff_check_the_identity_and_carry_out_an_erasure_the_api_logged(
    app: Flask, client: FlaskClient, staff_client: FlaskClient
) -> None:
    secret = token_for(app, WRITE)
    public_id = public_id_of(app, ADDRESS)
    body = {"channel": "phone", "note": "Called from the shop"}
    answer = call(
        client, secret, f"/api/v1/contacts/{public_id}/erasure", method="POST", json=body
    ).get_json()
    page = f"/staff/requests/{answer['id']}"
    assert "Called from the shop" in staff_client.get(page).get_data(as_text=True)
    verified = staff_client.post(
        f"{page}/verify",
        data={
            "verify-csrf_token": prefixed_token(staff_client, page, "verify"),
            "verify-verification": "called back on the number on file",
        },
    )
    assert verified.status_code == 302
    carried = staff_client.post(
        f"{page}/carry-out", data={"csrf_token": csrf_token(staff_client, page), "confirmed": "1"}
    )
    assert carried.status_code == 200
    with app.app_context():
        assert find_contact(ADDRESS) is None
    done = stored_request(app, answer["id"])
    assert done.status == RequestStatus.DONE and done.note is None and done.email is None


def test_the_campaign_service_itself_refuses_a_token_without_the_admin_scope(
    app: Flask,
) -> None:
    from consentapp.services.api_tokens import issue_token
    from consentapp.services.campaigns import CampaignError, schedule

    public_id = make_campaign(app)
    with app.app_context():
        token = issue_token("writer", [ApiScope.CAMPAIGNS_WRITE], "tests").token
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        with pytest.raises(CampaignError, match="admin"):
            schedule(campaign, None, token)
        db.session.rollback()
        assert db.session.scalars(sa.select(Campaign.status)).all() == [CampaignStatus.DRAFT]
