"""Managing outgoing webhook endpoints in the staff area and on the command line: edit
(the SSRF guard checks a new URL), switch on and off, a new signing secret, a test
event, delete (after a confirmation page), and the delivery log a page at a time. The
receiver is a real HTTP server; deliveries are verified with `standardwebhooks`.
The staff area speaks Dutch by default, so page texts are checked in Dutch."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from consentapp.extensions import db
from consentapp.models import WebhookDelivery, WebhookEndpoint, WebhookStatus
from consentapp.services.contacts import find_or_create_contact
from consentapp.services.outgoing_webhooks import add_endpoint
from tests.builders import ADDRESS
from tests.helpers import audited, csrf_token, post_form, run_webhooks, verified_webhooks
from tests.services import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.stop()


@pytest.fixture
def endpoint(app: Flask, receiver: WebhookReceiver) -> tuple[str, str]:
    """An endpoint for contact.created at the receiver (private targets allowed):
    its public id and its secret."""
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    with app.app_context():
        added, secret = add_endpoint(receiver.url, ("contact.created",))
        return added.public_id, secret


def new_contact(app: Flask, email: str = ADDRESS) -> None:
    with app.app_context():
        find_or_create_contact(email, "nl", "web_form")
        db.session.commit()


def stored_endpoint(app: Flask) -> WebhookEndpoint | None:
    with app.app_context():
        found = db.session.scalar(sa.select(WebhookEndpoint))
        db.session.expunge_all()
        return found


def test_admins_edit_an_endpoint_and_a_new_url_passes_the_ssrf_guard(
    app: Flask, admin_client: FlaskClient, endpoint: tuple[str, str], receiver: WebhookReceiver
) -> None:
    public_id, _ = endpoint
    edit = f"/staff/webhooks/{public_id}/edit"
    page = admin_client.get(edit).get_data(as_text=True)
    assert receiver.url in page and 'checked id="events-0"' in page
    changed = {"url": receiver.url, "events": ["contact.erased", "bounce.recorded"]}
    assert admin_client.post(edit, data=changed).status_code == 400  # no CSRF token
    assert post_form(admin_client, edit, {**changed, "events": []}).status_code == 400
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = False
    for private in ("http://10.1.2.3/in", "http://169.254.169.254/latest", "http://[::1]:8/x"):
        refused = post_form(admin_client, edit, {**changed, "url": private})
        assert refused.status_code == 400
        assert "this URL is refused" in refused.get_data(as_text=True)
    unknown = post_form(admin_client, edit, {**changed, "url": "https://no-such-host.invalid/"})
    assert unknown.status_code == 400 and "does not resolve" in unknown.get_data(as_text=True)
    stored = stored_endpoint(app)
    assert stored is not None and stored.url == receiver.url  # nothing refused was kept
    # The unchanged URL is not looked up again; the other fields change.
    saved = post_form(admin_client, edit, {**changed, "personal": "y"})
    assert saved.status_code == 302
    stored = stored_endpoint(app)
    assert stored is not None
    assert stored.events == ["contact.erased", "bounce.recorded"] and stored.include_personal
    public = post_form(
        admin_client, edit, {**changed, "personal": "y", "url": "https://93.184.215.14/hooks"}
    )
    assert public.status_code == 302
    stored = stored_endpoint(app)
    assert stored is not None and stored.url == "https://93.184.215.14/hooks"
    entries = audited(app, "webhook.edit")
    assert [entry.details["changed"] for entry in entries if entry.details] == [
        ["events", "personal"],
        ["url"],
    ]
    assert all(entry.target_id == public_id and entry.actor_id for entry in entries)


def test_the_add_form_refuses_private_addresses_without_the_flag(
    app: Flask, admin_client: FlaskClient
) -> None:
    form = {"url": "http://192.168.1.20/hooks", "events": ["contact.created"]}
    refused = post_form(admin_client, "/staff/webhooks", form)
    assert refused.status_code == 400
    assert "private address (192.168.1.20)" in refused.get_data(as_text=True)
    assert stored_endpoint(app) is None


def test_a_switched_off_endpoint_gets_nothing_until_it_is_switched_on(
    app: Flask, admin_client: FlaskClient, endpoint: tuple[str, str], receiver: WebhookReceiver
) -> None:
    public_id, secret = endpoint
    page = f"/staff/webhooks/{public_id}"
    switch = f"{page}/switch"
    new_contact(app)  # queued while active
    off = admin_client.post(
        switch, data={"csrf_token": csrf_token(admin_client, page), "state": "off"}
    )
    assert off.status_code == 302
    assert "Inschakelen" in admin_client.get(page).get_data(as_text=True)
    new_contact(app, "second@example.be")  # not queued: the endpoint is off
    assert run_webhooks(app) == 0 and receiver.received == []
    token = csrf_token(admin_client, page)
    assert (
        admin_client.post(switch, data={"csrf_token": token, "state": "sideways"}).status_code
        == 400
    )
    assert admin_client.post(switch, data={"state": "on"}).status_code == 400  # no CSRF token
    assert admin_client.post(switch, data={"csrf_token": token, "state": "on"}).status_code == 302
    assert run_webhooks(app) == 1
    (payload,) = verified_webhooks(receiver.received, secret)
    assert payload["type"] == "contact.created"
    assert len(audited(app, "webhook.switch_off")) == 1
    assert len(audited(app, "webhook.switch_on")) == 1


def test_a_new_secret_is_shown_once_and_signs_every_delivery_from_then_on(
    app: Flask, admin_client: FlaskClient, endpoint: tuple[str, str], receiver: WebhookReceiver
) -> None:
    public_id, old_secret = endpoint
    rotate = f"/staff/webhooks/{public_id}/rotate-secret"
    asking = admin_client.get(rotate).get_data(as_text=True)
    assert "whsec_" not in asking and "geldt meteen" in asking
    new_contact(app)  # queued before the rotation, sent after it
    assert admin_client.post(rotate).status_code == 400  # no CSRF token
    shown = post_form(admin_client, rotate, {})
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    secret = shown.get_data(as_text=True).split("<code>")[1].split("</code>")[0]
    assert secret.startswith("whsec_") and secret != old_secret
    stored = stored_endpoint(app)
    assert stored is not None and stored.secret == secret
    for later in (f"/staff/webhooks/{public_id}", "/staff/webhooks", rotate):
        assert secret not in admin_client.get(later).get_data(as_text=True)
    assert run_webhooks(app) == 1
    (payload,) = verified_webhooks(receiver.received, secret)
    assert payload["type"] == "contact.created"
    headers, body, _ = receiver.received[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(body, {k.lower(): v for k, v in headers.items()})
    (entry,) = audited(app, "webhook.rotate_secret")
    assert entry.target_id == public_id and secret not in str(entry.details)


def test_a_test_event_reaches_the_endpoint_it_was_sent_for(
    app: Flask, admin_client: FlaskClient, endpoint: tuple[str, str], receiver: WebhookReceiver
) -> None:
    public_id, secret = endpoint
    other = WebhookReceiver()
    try:
        with app.app_context():
            add_endpoint(other.url, ("contact.created",))
        page = f"/staff/webhooks/{public_id}"
        assert admin_client.post(f"{page}/test").status_code == 400  # no CSRF token
        sent = admin_client.post(
            f"{page}/test", data={"csrf_token": csrf_token(admin_client, page)}
        )
        assert sent.status_code == 302
        assert run_webhooks(app) == 1
        (payload,) = verified_webhooks(receiver.received, secret)
        assert payload["type"] == "webhook.test"
        assert payload["data"] == {"endpoint": public_id}
        assert other.received == []  # only the endpoint the button was pressed for
        assert "webhook.test" in admin_client.get(page).get_data(as_text=True)
        (entry,) = audited(app, "webhook.test")
        assert entry.target_id == public_id
        token = csrf_token(admin_client, page)
        admin_client.post(f"{page}/switch", data={"csrf_token": token, "state": "off"})
        refused = admin_client.post(
            f"{page}/test", data={"csrf_token": token}, follow_redirects=True
        )
        assert "Schakel het eindpunt eerst in" in refused.get_data(as_text=True)
        assert len(audited(app, "webhook.test")) == 1
    finally:
        other.stop()


def test_deleting_an_endpoint_asks_first_and_drops_what_is_waiting(
    app: Flask, admin_client: FlaskClient, endpoint: tuple[str, str], receiver: WebhookReceiver
) -> None:
    public_id, _ = endpoint
    new_contact(app)
    new_contact(app, "second@example.be")
    delete = f"/staff/webhooks/{public_id}/delete"
    asking = admin_client.get(delete)
    html = asking.get_data(as_text=True)
    assert asking.status_code == 200 and "2 leveringen die nog wachten, vervallen" in html
    # It works without script: only the menu's script file, no inline code.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/staff-menu.js" defer>']
    assert "onclick" not in html and "onsubmit" not in html
    assert stored_endpoint(app) is not None  # the page alone deletes nothing
    assert admin_client.post(delete).status_code == 400  # no CSRF token
    done = post_form(admin_client, delete, {})
    assert done.status_code == 302 and done.headers["Location"].endswith("/staff/webhooks")
    assert stored_endpoint(app) is None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 0
    assert run_webhooks(app) == 0 and receiver.received == []
    (entry,) = audited(app, "webhook.delete")
    assert entry.target_id == public_id and entry.details == {"url": receiver.url, "dropped": 2}
    assert admin_client.get(f"/staff/webhooks/{public_id}").status_code == 404
    assert admin_client.get(delete).status_code == 404


def test_the_delivery_log_is_paged_and_filtered_by_status(
    app: Flask, admin_client: FlaskClient, endpoint: tuple[str, str]
) -> None:
    public_id, _ = endpoint
    for number in range(62):
        new_contact(app, f"person{number}@example.be")
    with app.app_context():
        rows = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        for row in rows[:5]:
            row.status = WebhookStatus.FAILED
        db.session.commit()
    page = f"/staff/webhooks/{public_id}"

    def shown(url: str) -> tuple[int, str]:
        html = admin_client.get(url).get_data(as_text=True)
        return html.count("<tr><td><code>"), html

    count, first = shown(page)
    assert count == 50 and f"{page}?page=2" in first and "page=0" not in first
    count, second = shown(f"{page}?page=2")
    assert count == 12 and "?page=3" not in second and f"{page}?page=1" in second
    count, failed = shown(f"{page}?status=failed")
    assert count == 5 and "?page=2" not in failed
    count, pending = shown(f"{page}?status=pending")
    assert count == 50 and f"{page}?page=2&amp;status=pending" in pending
    count, _ = shown(f"{page}?page=2&status=pending")
    assert count == 7
    count, _ = shown(f"{page}?status=delivered")
    assert count == 0
    bad = admin_client.get(f"{page}?status=lost")
    assert bad.status_code == 400 and "unknown status" in bad.get_data(as_text=True)
    assert admin_client.get(f"{page}?page=abc").status_code == 200  # read as page 1


def test_list_and_remove_webhooks_on_the_command_line(
    app: Flask, runner: FlaskCliRunner, endpoint: tuple[str, str], receiver: WebhookReceiver
) -> None:
    public_id, secret = endpoint
    new_contact(app)
    listed = runner.invoke(args=["list-webhooks"])
    assert listed.exit_code == 0
    (line,) = listed.output.strip().splitlines()
    assert line.split("\t") == [
        public_id,
        "active",
        "ids-only",
        "1 waiting",
        receiver.url,
        "contact.created",
    ]
    assert secret not in listed.output
    unknown = runner.invoke(args=["remove-webhook", "nope"])
    assert unknown.exit_code == 2 and "no webhook endpoint has this id" in unknown.output
    removed = runner.invoke(args=["remove-webhook", public_id])
    assert removed.exit_code == 0, removed.output
    assert "1 waiting deliveries dropped" in removed.output
    assert stored_endpoint(app) is None
    assert runner.invoke(args=["list-webhooks"]).output.strip() == "No webhook endpoints."
    (entry,) = audited(app, "webhook.delete")
    assert entry.target_id == public_id and entry.actor_id is None
    assert run_webhooks(app) == 0 and receiver.received == []
