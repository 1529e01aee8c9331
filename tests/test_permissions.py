"""Who may do what: every endpoint and method against the README's permission table, for
an anonymous visitor, the `staff` role and the `admin` role; and the two-person rules:
staff prepare a newsletter or record a disclosure, an admin approves in their own session.

`EXPECTED` is this test's own copy of the README table, on purpose not read from
consentapp/permissions.py: a change that widens a role in the code fails here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.models import Campaign, Contact, Disclosure, OutboundEmail, Role, StaffUser
from consentapp.permissions import ENDPOINT_PERMISSIONS, ROLE_PERMISSIONS, Permission
from consentapp.services import campaign_sending
from consentapp.services import campaigns as campaign_service
from consentapp.services.rights_export import build_export
from tests.builders import EMAIL as ELS
from tests.builders import RECIPIENT, make_campaign
from tests.flows import record_disclosure, staff_send, submit_contact_form
from tests.helpers import audited, csrf_token

PUBLIC = "anyone"  # outside the staff area
OPEN = "login page"  # staff area, reachable before logging in
API = "api token"  # the REST API: a bearer token with its scope, never a staff session
LISTED = "listed origins"  # outside the staff area, for pages on EMBED_ORIGINS only (none here)
STAFF = "staff and admin"
ADMIN = "admin only"

EXPECTED: dict[tuple[str, str, str], str] = {
    # The public site, subscriptions and data-subject rights
    ("public.home", "GET", ""): PUBLIC,
    ("public.archive_index", "GET", ""): PUBLIC,
    ("public.archive_entry", "GET", ""): PUBLIC,
    ("public.archive_feed", "GET", ""): PUBLIC,
    ("public.contact", "GET", ""): PUBLIC,
    ("public.contact", "POST", ""): PUBLIC,
    ("public.contact_thanks", "GET", ""): PUBLIC,
    ("public.cookies", "GET", ""): PUBLIC,
    ("public.healthz", "GET", ""): PUBLIC,
    ("public.privacy", "GET", ""): PUBLIC,
    ("public.privacy_version", "GET", ""): PUBLIC,
    ("public.follow_link", "GET", ""): PUBLIC,
    ("static", "GET", ""): PUBLIC,
    ("rights.my_data", "GET", ""): PUBLIC,
    ("rights.my_data", "POST", ""): PUBLIC,
    ("rights.export", "GET", ""): PUBLIC,
    ("rights.verify", "GET", ""): PUBLIC,
    ("rights.verify", "POST", ""): PUBLIC,
    ("subscriptions.subscribe", "GET", ""): PUBLIC,
    ("subscriptions.subscribe", "POST", ""): PUBLIC,
    ("subscriptions.confirm", "GET", ""): PUBLIC,
    ("subscriptions.confirm", "POST", ""): PUBLIC,
    ("subscriptions.unsubscribe", "GET", ""): PUBLIC,
    ("subscriptions.web_version", "GET", ""): PUBLIC,
    ("subscriptions.still_wanted", "GET", ""): PUBLIC,
    ("subscriptions.still_wanted", "POST", ""): PUBLIC,
    ("subscriptions.unsubscribe", "POST", ""): PUBLIC,
    ("subscriptions.request_preferences", "GET", ""): PUBLIC,
    ("subscriptions.request_preferences", "POST", ""): PUBLIC,
    ("subscriptions.preferences", "GET", ""): PUBLIC,
    ("subscriptions.preferences", "POST", ""): PUBLIC,
    ("subscriptions.send_details_link", "POST", ""): PUBLIC,
    ("subscriptions.change_email", "POST", ""): PUBLIC,
    ("subscriptions.unsubscribe_all", "POST", ""): PUBLIC,
    ("subscriptions.unsubscribe_feedback", "POST", ""): PUBLIC,
    ("subscriptions.verify_email", "GET", ""): PUBLIC,
    ("subscriptions.verify_email", "POST", ""): PUBLIC,
    ("subscriptions.receipt", "GET", ""): PUBLIC,
    ("subscriptions.receipt_download", "GET", ""): PUBLIC,
    # Provider webhooks: public, but each request must carry the provider's signature
    ("webhooks.bounces", "POST", ""): PUBLIC,
    # The REST API: its document and docs page are public; every operation needs a token
    ("api.openapi_document", "GET", ""): PUBLIC,
    ("api.openapi_spec", "GET", ""): PUBLIC,
    ("api.docs_page", "GET", ""): PUBLIC,
    ("api.list_topics", "GET", ""): API,
    ("api.list_contacts", "GET", ""): API,
    ("api.read_contact", "GET", ""): API,
    ("api.read_ledger", "GET", ""): API,
    ("api.request_subscription", "POST", ""): API,
    ("api.check_suppression", "GET", ""): API,
    ("api.create_contact", "POST", ""): API,
    ("api.rectify_contact", "PATCH", ""): API,
    ("api.withdraw_topic", "DELETE", ""): API,
    ("api.list_campaigns", "GET", ""): API,
    ("api.read_campaign", "GET", ""): API,
    ("api.create_campaign_draft", "POST", ""): API,
    ("api.schedule_campaign", "POST", ""): API,
    ("api.list_data_requests", "GET", ""): API,
    ("api.read_data_request", "GET", ""): API,
    ("api.create_data_request", "POST", ""): API,
    ("api.start_erasure", "POST", ""): API,
    # Script-driven forms on the company's own site: public, for listed origins only
    ("embed.subscribe", "POST", ""): LISTED,
    ("embed.altcha_challenge", "GET", ""): PUBLIC,
    # Logging in, one's own account
    ("staff.login", "GET", ""): OPEN,
    ("staff.login", "POST", ""): OPEN,
    ("staff.login_totp", "GET", ""): OPEN,
    ("staff.login_totp", "POST", ""): OPEN,
    ("staff.home", "GET", ""): STAFF,
    ("staff.account", "GET", ""): STAFF,
    ("staff.account", "POST", ""): STAFF,
    ("staff.totp_setup", "GET", ""): STAFF,
    ("staff.totp_setup", "POST", ""): STAFF,
    ("staff.logout", "POST", ""): STAFF,
    # Contacts, consent capture, import and export
    ("staff.contacts", "GET", ""): STAFF,
    ("staff.contact", "GET", ""): STAFF,
    ("staff.edit_contact", "GET", ""): STAFF,
    ("staff.edit_contact", "POST", ""): STAFF,
    ("staff.unsubscribe_contact", "POST", ""): STAFF,
    ("staff.clear_undeliverable", "POST", ""): STAFF,
    ("staff.bounces", "GET", ""): STAFF,
    ("staff.record_consent_view", "GET", ""): STAFF,
    ("staff.record_consent_view", "POST", ""): STAFF,
    ("staff.import_upload", "GET", ""): STAFF,
    ("staff.import_upload", "POST", ""): STAFF,
    ("staff.import_mapping", "GET", ""): STAFF,
    ("staff.import_mapping", "POST", ""): STAFF,
    ("staff.export", "GET", ""): STAFF,
    ("staff.export", "POST", ""): STAFF,
    # Inquiries
    ("staff.inquiries", "GET", ""): STAFF,
    ("staff.inquiry", "GET", ""): STAFF,
    ("staff.update_inquiry_view", "POST", ""): STAFF,
    ("staff.add_note_view", "POST", ""): STAFF,
    ("staff.apply_details_view", "POST", ""): STAFF,
    # Data-subject requests and art. 19 follow-ups
    ("staff.requests_queue", "GET", ""): STAFF,
    ("staff.request_detail", "GET", ""): STAFF,
    ("staff.log_request_view", "GET", ""): STAFF,
    ("staff.log_request_view", "POST", ""): STAFF,
    ("staff.request_action", "POST", ""): STAFF,
    ("staff.follow_up_done", "POST", ""): STAFF,
    # Disclosure register
    ("staff.disclosures", "GET", ""): STAFF,
    ("staff.disclosures_csv", "GET", ""): STAFF,
    ("staff.new_disclosure", "GET", ""): STAFF,
    ("staff.new_disclosure", "POST", ""): STAFF,
    ("staff.approve_disclosure", "POST", ""): ADMIN,
    ("staff.withhold_disclosure", "POST", ""): ADMIN,
    ("staff.release_disclosure", "POST", ""): ADMIN,
    # Record of processing, privacy notices
    ("staff.register", "GET", ""): STAFF,
    ("staff.register_export", "GET", ""): STAFF,
    ("staff.edit_activity", "GET", ""): ADMIN,
    ("staff.edit_activity", "POST", ""): ADMIN,
    ("staff.notices_view", "GET", ""): ADMIN,
    ("staff.notices_view", "POST", ""): ADMIN,
    # Newsletters: staff write and submit, an admin sends
    ("staff.campaigns", "GET", ""): STAFF,
    ("staff.campaign", "GET", ""): STAFF,
    ("staff.campaign_progress", "GET", ""): STAFF,
    ("staff.campaign_clicks_csv", "GET", ""): STAFF,
    ("staff.new_campaign", "GET", ""): STAFF,
    ("staff.new_campaign", "POST", ""): STAFF,
    ("staff.edit_campaign", "GET", ""): STAFF,
    ("staff.edit_campaign", "POST", ""): STAFF,
    ("staff.campaign_action", "POST", "test"): STAFF,
    ("staff.campaign_action", "POST", "submit"): STAFF,
    ("staff.campaign_action", "POST", "withdraw"): STAFF,
    ("staff.campaign_action", "POST", "pause"): STAFF,
    ("staff.campaign_action", "POST", "send"): ADMIN,
    ("staff.campaign_action", "POST", "resume"): ADMIN,
    ("staff.campaign_action", "POST", "cancel"): ADMIN,
    ("staff.campaign_archive", "POST", ""): ADMIN,
    ("staff.campaign_open_pixel", "POST", ""): ADMIN,
    ("staff.repermissions", "GET", ""): STAFF,
    ("staff.repermissions", "POST", ""): ADMIN,
    ("staff.repermission", "GET", ""): STAFF,
    ("staff.repermission_action", "POST", "lapse"): ADMIN,
    ("staff.repermission_action", "POST", "close"): ADMIN,
    ("public.open_pixel", "GET", ""): PUBLIC,
    # Accounts, settings, audit log
    ("staff.users", "GET", ""): ADMIN,
    ("staff.user", "GET", ""): ADMIN,
    ("staff.new_user", "GET", ""): ADMIN,
    ("staff.new_user", "POST", ""): ADMIN,
    ("staff.user_action", "POST", ""): ADMIN,
    ("staff.settings", "GET", ""): ADMIN,
    ("staff.settings", "POST", ""): ADMIN,
    ("staff.embed_form", "GET", ""): STAFF,
    ("staff.audit_log", "GET", ""): ADMIN,
    ("staff.webhooks", "GET", ""): ADMIN,
    ("staff.webhooks", "POST", ""): ADMIN,
    ("staff.webhook", "GET", ""): ADMIN,
    ("staff.send_webhook_again", "POST", ""): ADMIN,
    ("staff.api_tokens", "GET", ""): ADMIN,
    ("staff.api_tokens", "POST", ""): ADMIN,
    ("staff.revoke_api_token", "POST", ""): ADMIN,
    ("staff.webhook_edit", "GET", ""): ADMIN,
    ("staff.webhook_edit", "POST", ""): ADMIN,
    ("staff.webhook_switch", "POST", ""): ADMIN,
    ("staff.webhook_rotate_secret", "GET", ""): ADMIN,
    ("staff.webhook_rotate_secret", "POST", ""): ADMIN,
    ("staff.webhook_test", "POST", ""): ADMIN,
    ("staff.webhook_delete", "GET", ""): ADMIN,
    ("staff.webhook_delete", "POST", ""): ADMIN,
}

# Ids that match nothing: an allowed request answers 404 or 400, and changes nothing.
PLACEHOLDERS: dict[str, str] = {
    "public_id": "abcdefabcdefabcdef",
    "topic": "product-updates",
    "user_id": "999",
    "upload": "u" * 24,
    "fmt": "csv",
    "task_id": "999",
    "activity_id": "999",
    "disclosure_id": "999",
    "delivery_id": "msg_nothing",
    "version": "999",
    "token": "not-a-valid-token",
    "filename": "css/app.css",
    "provider": "generic",
    "prefix": "00000000",
    "action": "unlock",  # for `/<action>` endpoints that need one permission for all
}


def walked_routes(app: Flask) -> Iterator[tuple[tuple[str, str, str], str]]:
    """(endpoint, method, action) and its URL, for every rule in the URL map; the logout
    comes last, so the clients stay logged in for the rest."""
    found: list[tuple[tuple[str, str, str], str]] = []
    for rule in app.url_map.iter_rules():
        actions = sorted(a for e, _, a in EXPECTED if e == rule.endpoint and a) or [""]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for action in actions:
                url = rule.rule
                for name in rule.arguments:
                    value = action if name == "action" and action else PLACEHOLDERS[name]
                    url = url.replace(f"<int:{name}>", value).replace(f"<path:{name}>", value)
                    url = url.replace(f"<{name}>", value)
                found.append(((rule.endpoint, method, action), url))
    found.sort(key=lambda item: item[0] == ("staff.logout", "POST", ""))
    yield from found


def ask(client: FlaskClient, method: str, url: str, token: str) -> TestResponse:
    if method == "POST":
        return client.post(url, data={"csrf_token": token})
    return client.open(url, method=method)


def sent_to_login(response: TestResponse) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/staff/login")


def test_the_table_names_every_route_and_nothing_else(app: Flask) -> None:
    walked = {key for key, _ in walked_routes(app)}
    assert sorted(walked - EXPECTED.keys()) == [], "routes missing from the permission table"
    assert sorted(EXPECTED.keys() - walked) == [], "the table names routes that do not exist"


def test_the_code_declares_the_same_actions_as_the_table() -> None:
    declared = {
        (endpoint, action)
        for endpoint, requirement in ENDPOINT_PERMISSIONS.items()
        for action in requirement.by_action
    }
    assert declared == {(e, a) for e, _, a in EXPECTED if a}


def test_every_endpoint_and_method_for_anonymous_staff_and_admin(
    app: Flask, admin_client: FlaskClient, staff_client: FlaskClient
) -> None:
    anonymous = app.test_client()
    tokens = {
        "anonymous": csrf_token(anonymous, "/staff/login"),
        "staff": csrf_token(staff_client, "/staff/account"),
        "admin": csrf_token(admin_client, "/staff/account"),
    }
    clients = {"anonymous": anonymous, "staff": staff_client, "admin": admin_client}
    wrong = []
    for key, url in walked_routes(app):
        expected = EXPECTED[key]
        for who, client in clients.items():
            response = ask(client, key[1], url, tokens[who])
            response.close()
            status = response.status_code
            if expected == API:
                ok = status == 401  # a staff session opens nothing in the API
            elif expected == LISTED:
                ok = status == 403 and not sent_to_login(response)
            elif expected in (PUBLIC, OPEN):
                ok = status != 403 and (expected == OPEN or not sent_to_login(response))
            elif key == ("staff.logout", "POST", "") and who != "anonymous":
                ok = status != 403  # logging out ends on the login page
            elif who == "anonymous":
                ok = sent_to_login(response) or status in (401, 403)
            elif who == "staff" and expected == ADMIN:
                ok = status == 403
            else:
                ok = status != 403 and not sent_to_login(response)
            if not ok:
                wrong.append((key, who, expected, status))
    assert wrong == []


def test_an_unknown_campaign_action_is_not_found_even_for_an_admin(
    app: Flask, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    token = csrf_token(admin_client, f"/staff/campaigns/{public_id}")
    response = admin_client.post(f"/staff/campaigns/{public_id}/launch", data={"csrf_token": token})
    assert response.status_code == 404


def test_the_staff_role_holds_no_admin_permission() -> None:
    assert ROLE_PERMISSIONS[Role.STAFF.value].isdisjoint(
        {
            Permission.CAMPAIGN_SEND,
            Permission.CAMPAIGN_CANCEL,
            Permission.DISCLOSURE_APPROVE,
            Permission.DISCLOSURE_WITHHOLD,
            Permission.ACCOUNTS,
            Permission.SETTINGS,
            Permission.AUDIT_LOG,
            Permission.WEBHOOKS,
            Permission.API_TOKENS,
        }
    )


def test_an_endpoint_missing_from_the_table_stops_the_app_from_starting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from consentapp import permissions
    from tests.conftest import make_app

    table = dict(permissions.ENDPOINT_PERMISSIONS)
    del table["staff.campaigns"]
    monkeypatch.setattr(permissions, "ENDPOINT_PERMISSIONS", table)
    with pytest.raises(RuntimeError, match=r"staff\.campaigns"):
        make_app(f"sqlite:///{tmp_path / 'db.sqlite3'}", 25, tmp_path / "instance")


# Newsletters: staff prepare, an admin sends -----------------------------------------------


def campaign_state(app: Flask, public_id: str) -> dict[str, Any]:
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        outbox = db.session.scalar(
            sa.select(sa.func.count(OutboundEmail.id)).where(
                OutboundEmail.campaign_id == campaign.id
            )
        )
        return {
            "status": campaign.status,
            "submitted_by": campaign.submitted_by_id,
            "approved_by": campaign.approved_by_id,
            "outbox": outbox,
        }


def campaign_post(client: FlaskClient, public_id: str, action: str, **data: str) -> TestResponse:
    token = csrf_token(client, f"/staff/campaigns/{public_id}")
    return client.post(f"/staff/campaigns/{public_id}/{action}", data={"csrf_token": token, **data})


def run_worker(app: Flask) -> None:
    with app.app_context():
        while campaign_sending.run_due_campaigns():
            pass


@pytest.mark.usefixtures("audience")
def test_staff_cannot_send_or_schedule_a_campaign(
    app: Flask,
    staff_client: FlaskClient,
) -> None:
    public_id = make_campaign(app)
    assert campaign_post(staff_client, public_id, "send", at="").status_code == 403
    assert campaign_post(staff_client, public_id, "send", at="2030-01-01T09:00").status_code == 403
    run_worker(app)
    assert campaign_state(app, public_id)["status"] == "draft"
    assert campaign_state(app, public_id)["outbox"] == 0
    assert audited(app, "campaign.schedule") == []


def test_staff_page_offers_submit_not_send(
    app: Flask, staff_client: FlaskClient, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    page = staff_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert f"/staff/campaigns/{public_id}/submit" in page
    assert f"/staff/campaigns/{public_id}/send" not in page
    admin_page = admin_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert f"/staff/campaigns/{public_id}/send" in admin_page


@pytest.mark.usefixtures("audience")
def test_staff_submit_and_an_admin_approves_and_sends(
    app: Flask,
    staff_client: FlaskClient,
    admin_client: FlaskClient,
    staff_id: int,
    admin_id: int,
) -> None:
    public_id = make_campaign(app)
    assert campaign_post(staff_client, public_id, "submit").status_code == 302
    state = campaign_state(app, public_id)
    assert (state["status"], state["submitted_by"], state["outbox"]) == ("submitted", staff_id, 0)
    assert campaign_post(staff_client, public_id, "send", at="").status_code == 403
    admin_page = admin_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert f"/staff/campaigns/{public_id}/send" in admin_page

    assert staff_send(admin_client, f"/staff/campaigns/{public_id}").status_code == 302
    run_worker(app)
    state = campaign_state(app, public_id)
    assert (state["status"], state["approved_by"]) == ("sending", admin_id)
    assert state["outbox"] == 2, "the two confirmed subscribers"
    [entry] = audited(app, "campaign.schedule")
    assert entry.actor_id == admin_id
    assert entry.details is not None and entry.details["submitted_by"] == staff_id


@pytest.mark.usefixtures("audience")
def test_staff_may_pause_but_not_resume_or_cancel(
    app: Flask,
    staff_client: FlaskClient,
) -> None:
    public_id = make_campaign(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        campaign_service.schedule(campaign, None, None)
    with app.app_context():
        campaign_sending.run_due_campaigns(batch=1)
    assert campaign_post(staff_client, public_id, "pause").status_code == 302
    assert campaign_state(app, public_id)["status"] == "paused"
    assert campaign_post(staff_client, public_id, "resume").status_code == 403
    assert campaign_post(staff_client, public_id, "cancel").status_code == 403
    assert campaign_state(app, public_id)["status"] == "paused"


def test_the_campaign_service_refuses_a_staff_account_too(app: Flask, staff_id: int) -> None:
    """A script that calls the service with a staff account gets no further than the page."""
    public_id = make_campaign(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        staff = db.session.get(StaffUser, staff_id)
        assert campaign is not None and staff is not None
        with pytest.raises(campaign_service.CampaignError):
            campaign_service.schedule(campaign, None, staff)
        db.session.rollback()
    assert campaign_state(app, public_id)["status"] == "draft"


# Disclosures: staff record, an admin approves; only an admin withholds -------------------


def disclosure_row(app: Flask) -> dict[str, Any]:
    with app.app_context():
        row = db.session.scalar(sa.select(Disclosure))
        assert row is not None
        return {
            "id": row.id,
            "recorded_by": row.recorded_by_id,
            "approved_by": row.approved_by_id,
            "approved": row.approved_at is not None,
            "withheld": row.withhold_from_subject,
            "reason": row.withhold_reason,
        }


def access_copy_disclosures(app: Flask) -> list[str]:
    """The recipients the person sees in their access copy (page and downloads alike)."""
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == ELS))
        assert contact is not None
        return [d["recipient"] for d in build_export(contact)["disclosures"]]


def test_a_disclosure_recorded_by_staff_waits_for_an_admin_and_the_person_sees_it(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, staff_id: int, admin_id: int
) -> None:
    submit_contact_form(app, client)
    assert record_disclosure(staff_client, admin_id, [ELS]).status_code == 302
    row = disclosure_row(app)
    assert (row["recorded_by"], row["approved_by"], row["approved"]) == (staff_id, None, False)
    assert access_copy_disclosures(app) == [RECIPIENT], "recording is the fact of disclosure"
    page = staff_client.get("/staff/disclosures").get_data(as_text=True)
    assert f"/staff/disclosures/{row['id']}/approve" not in page


def test_an_admin_approves_in_their_own_session(
    app: Flask,
    client: FlaskClient,
    staff_client: FlaskClient,
    admin_client: FlaskClient,
    admin_id: int,
) -> None:
    submit_contact_form(app, client)
    record_disclosure(staff_client, admin_id, [ELS])
    approve = f"/staff/disclosures/{disclosure_row(app)['id']}/approve"
    assert approve in admin_client.get("/staff/disclosures").get_data(as_text=True)
    token = csrf_token(admin_client, "/staff/disclosures")
    assert admin_client.post(approve, data={"csrf_token": token}).status_code == 302
    row = disclosure_row(app)
    assert (row["approved_by"], row["approved"]) == (admin_id, True)
    [entry] = audited(app, "disclosure.approve")
    assert entry.actor_id == admin_id


def test_staff_cannot_approve_a_disclosure(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    record_disclosure(staff_client, admin_id, [ELS])
    token = csrf_token(staff_client, "/staff/disclosures")
    approve = f"/staff/disclosures/{disclosure_row(app)['id']}/approve"
    assert staff_client.post(approve, data={"csrf_token": token}).status_code == 403
    assert disclosure_row(app)["approved"] is False
    assert audited(app, "disclosure.approve") == []


def test_the_approver_is_never_taken_from_the_form(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    record_disclosure(staff_client, admin_id, [ELS], approved_by=str(admin_id))
    assert disclosure_row(app)["approved_by"] is None
    form = staff_client.get("/staff/disclosures/new").get_data(as_text=True)
    assert 'name="approved_by"' not in form


def test_staff_cannot_withhold_a_disclosure(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    refused = record_disclosure(staff_client, admin_id, [ELS], withhold_reason="Police gag order")
    assert refused.status_code == 400
    record_disclosure(staff_client, admin_id, [ELS])
    token = csrf_token(staff_client, "/staff/disclosures")
    withhold = f"/staff/disclosures/{disclosure_row(app)['id']}/withhold"
    response = staff_client.post(withhold, data={"csrf_token": token, "reason": "Gag order"})
    assert response.status_code == 403
    assert disclosure_row(app)["withheld"] is False
    assert access_copy_disclosures(app) == [RECIPIENT]


def test_an_admin_withholds_with_a_reason_and_can_show_it_again(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    record_disclosure(admin_client, admin_id, [ELS])
    disclosure_id = disclosure_row(app)["id"]
    token = csrf_token(admin_client, "/staff/disclosures")
    withhold = f"/staff/disclosures/{disclosure_id}/withhold"
    no_reason = admin_client.post(withhold, data={"csrf_token": token, "reason": " "})
    assert no_reason.status_code == 400
    assert disclosure_row(app)["withheld"] is False

    reason = "Art. 23 GDPR: ongoing police investigation, case 24/113"
    assert (
        admin_client.post(withhold, data={"csrf_token": token, "reason": reason}).status_code == 302
    )
    assert (disclosure_row(app)["withheld"], disclosure_row(app)["reason"]) == (True, reason)
    assert access_copy_disclosures(app) == []
    [entry] = audited(app, "disclosure.withhold")
    assert entry.actor_id == admin_id and entry.details == {"reason": reason}

    release = f"/staff/disclosures/{disclosure_id}/release"
    assert admin_client.post(release, data={"csrf_token": token}).status_code == 302
    assert access_copy_disclosures(app) == [RECIPIENT]
    assert [e.actor_id for e in audited(app, "disclosure.release")] == [admin_id]


def test_an_admin_recording_a_disclosure_approves_it_in_their_name(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    record_disclosure(admin_client, admin_id, [ELS])
    row = disclosure_row(app)
    assert (row["recorded_by"], row["approved_by"], row["approved"]) == (admin_id, admin_id, True)
