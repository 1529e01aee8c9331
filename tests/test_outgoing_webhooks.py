"""Outgoing webhooks: registered endpoints get every event they asked for, signed per
Standard Webhooks, from rows written with the change; failures are retried, a dead
endpoint is switched off, and private addresses are refused. The receiver is a real
HTTP server; each delivery is verified with the `standardwebhooks` library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from standardwebhooks import Webhook

from consentapp.extensions import db
from consentapp.models import (
    BounceType,
    DataRequest,
    OutboundEmail,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStatus,
    utcnow,
)
from consentapp.schedule import schedule
from consentapp.services.consent import Origin
from consentapp.services.contacts import find_contact, find_or_create_contact
from consentapp.services.outgoing_webhooks import EVENTS, add_endpoint, send_again
from consentapp.services.webhook_delivery import (
    RETRY_DELAYS,
    TargetRefused,
    deliver_webhooks,
    resolve_target,
)
from tests.builders import ADDRESS
from tests.flows import confirm, confirmation_link, subscribe
from tests.helpers import csrf_token, post_form, run_webhooks
from tests.services import SMTPServer, WebhookReceiver, self_signed_certificate


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.stop()


@pytest.fixture
def private_ok(app: Flask) -> Flask:
    """The app allowed to reach the local receiver."""
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    return app


def register(app: Flask, url: str, events: tuple[str, ...] = EVENTS, personal: bool = False) -> str:
    with app.app_context():
        return add_endpoint(url, events, include_personal=personal)[1]


def verified(receiver: WebhookReceiver, secret: str) -> list[dict[str, object]]:
    """Every body the receiver got, each checked with the standardwebhooks library."""
    hook = Webhook(secret)
    payloads = []
    for headers, body, _ in receiver.received:
        lowered = {name.lower(): value for name, value in headers.items()}
        assert lowered["webhook-id"].startswith("msg_")
        payloads.append(hook.verify(body, lowered))
    return payloads


def deliveries(app: Flask) -> list[WebhookDelivery]:
    with app.app_context():
        rows = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        db.session.expunge_all()
        return list(rows)


def test_add_webhook_prints_the_secret_on_its_last_line(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(
        args=[
            "add-webhook",
            "https://hooks.example.com/in",
            "--events",
            "contact.created,contact.erased",
        ]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    Webhook(secret)  # a secret the library accepts
    with app.app_context():
        endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
        assert endpoint.events == ["contact.created", "contact.erased"]
        assert endpoint.include_personal is False
    personal = runner.invoke(
        args=[
            "add-webhook",
            "https://hooks.example.com/p",
            "--events",
            "bounce.recorded",
            "--personal",
        ]
    )
    assert personal.exit_code == 0
    with app.app_context():
        assert db.session.scalar(
            sa.select(WebhookEndpoint.include_personal).where(WebhookEndpoint.url.endswith("/p"))
        )


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("https://hooks.example.com/in", "contact.deleted", "unknown events: contact.deleted"),
        ("https://hooks.example.com/in", "webhook.test", "unknown events: webhook.test"),
        ("https://hooks.example.com/in", " , ", "at least one event"),
        ("ftp://hooks.example.com/in", "contact.created", "https://"),
        ("https://user:pw@hooks.example.com/", "contact.created", "password"),
        ("https://hooks.example.com:99999/", "contact.created", "port"),
    ],
)
def test_add_webhook_refuses_bad_input(
    app: Flask, runner: FlaskCliRunner, url: str, events: str, message: str
) -> None:
    result = runner.invoke(args=["add-webhook", url, "--events", events])
    assert result.exit_code == 2
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 0


def test_subscription_events_reach_the_receiver_signed_without_personal_fields(
    private_ok: Flask, client: FlaskClient, smtp_server: SMTPServer, receiver: WebhookReceiver
) -> None:
    app = private_ok
    secret = register(app, receiver.url)
    subscribe(client)
    confirm(client, confirmation_link(app, smtp_server))
    assert run_webhooks(app) == 3
    payloads = verified(receiver, secret)
    assert [p["type"] for p in payloads] == [
        "contact.created",
        "subscription.requested",
        "subscription.confirmed",
    ]
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        subject = contact.public_id
    for payload in payloads:
        data = payload["data"]
        assert isinstance(data, dict)
        assert data["contact"] == subject
        assert "email" not in data and "name" not in data
        assert ADDRESS not in json.dumps(payload)
    assert payloads[1]["data"]["topic"] == "product-updates"  # type: ignore[index]
    assert receiver.received[0][2] == "/hooks"
    assert all(row.status == WebhookStatus.DELIVERED for row in deliveries(app))
    assert run_webhooks(app) == 0  # nothing is sent twice
    assert len(receiver.received) == 3


def test_personal_fields_only_for_endpoints_that_include_them_and_never_after_erasure(
    private_ok: Flask, receiver: WebhookReceiver
) -> None:
    app = private_ok
    plain = WebhookReceiver()
    try:
        secret = register(app, receiver.url, personal=True)
        plain_secret = register(app, plain.url)
        with app.app_context():
            contact = find_or_create_contact(ADDRESS, "nl", "web_form", name="Lies Peeters")
            db.session.commit()
        assert run_webhooks(app) == 2
        (personal_created,) = verified(receiver, secret)
        (plain_created,) = verified(plain, plain_secret)
        assert personal_created["data"]["email"] == ADDRESS  # type: ignore[index]
        assert personal_created["data"]["name"] == "Lies Peeters"  # type: ignore[index]
        assert "email" not in plain_created["data"]  # type: ignore[operator]

        from consentapp.services.erasure import erase_person

        with app.app_context():
            contact = find_contact(ADDRESS)
            assert contact is not None
            subject = contact.public_id
            # A rectification queued before the erasure, delivered after it.
            from consentapp.services.preferences import rectify

            rectify(contact, {"name": "Lies P."}, Origin(None, None), "nl")
            db.session.commit()
            erase_person(find_contact(ADDRESS))  # type: ignore[arg-type]
            db.session.commit()
        run_webhooks(app)
        payloads = verified(receiver, secret)[1:]
        assert [p["type"] for p in payloads] == ["contact.rectified", "contact.erased"]
        assert payloads[0]["data"] == {"contact": subject, "field": "name"}
        assert payloads[1]["data"] == {"contact": subject}
        for _, body, _ in receiver.received[1:]:
            assert ADDRESS not in body and "Lies" not in body
    finally:
        plain.stop()


def test_bounce_complaint_and_data_request_events(
    private_ok: Flask, receiver: WebhookReceiver
) -> None:
    app = private_ok
    secret = register(
        app,
        receiver.url,
        (
            "bounce.recorded",
            "complaint.recorded",
            "data_request.received",
            "data_request.completed",
        ),
    )
    from consentapp.services.bounces import record_refusal
    from consentapp.services.rights import finish_request, submit_request

    with app.app_context():
        contact = find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
        subject, contact_id = contact.public_id, contact.id
        record_refusal(contact_id, ADDRESS, 9001, None, BounceType.SOFT, "450", "try later")
        record_refusal(contact_id, ADDRESS, 9002, None, BounceType.COMPLAINT, None, "spam")
        db.session.commit()
        submit_request(ADDRESS, "access", "nl")
        request = db.session.scalars(sa.select(DataRequest)).one()
        finish_request(request, "sent a copy", None)
        db.session.commit()
        request_id = request.public_id
    run_webhooks(app)
    payloads = verified(receiver, secret)
    assert [(p["type"], p["data"]) for p in payloads] == [
        ("bounce.recorded", {"contact": subject, "kind": "soft", "source": "delivery"}),
        ("complaint.recorded", {"contact": subject, "kind": "complaint", "source": "delivery"}),
        (
            "data_request.received",
            {"contact": subject, "request": request_id, "kind": "access", "channel": "web"},
        ),
        ("data_request.completed", {"contact": subject, "request": request_id, "kind": "access"}),
    ]


def test_a_rolled_back_change_emits_nothing(private_ok: Flask, receiver: WebhookReceiver) -> None:
    app = private_ok
    register(app, receiver.url)
    from consentapp.services.rights import open_request

    with app.app_context():
        open_request("access", "phone", ADDRESS, "nl", None)
        db.session.flush()
        assert db.session.scalar(sa.select(sa.func.count(WebhookDelivery.id))) == 1
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 0
    assert deliveries(app) == []
    assert run_webhooks(app) == 0
    assert receiver.received == []


def test_an_endpoint_gets_only_the_events_it_asked_for(
    private_ok: Flask, receiver: WebhookReceiver
) -> None:
    app = private_ok
    register(app, receiver.url, ("contact.erased",))
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    assert deliveries(app) == []


def test_failures_are_retried_with_backoff_keeping_only_status_and_excerpt(
    private_ok: Flask, receiver: WebhookReceiver
) -> None:
    app = private_ok
    secret = register(app, receiver.url, ("contact.created",))
    receiver.status = 503
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    before = utcnow()
    assert run_webhooks(app) == 0
    (row,) = deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == (WebhookStatus.PENDING, 1, 503)
    assert row.response_excerpt is not None and len(row.response_excerpt) == 200
    assert row.response_excerpt.startswith("receiver says 503")
    assert row.next_attempt_at - before >= RETRY_DELAYS[0]
    assert run_webhooks(app) == 0  # not due yet
    assert len(receiver.received) == 1
    assert run_webhooks(app, RETRY_DELAYS[0] + timedelta(seconds=1)) == 0
    (row,) = deliveries(app)
    assert row.attempts == 2
    assert row.next_attempt_at - before >= RETRY_DELAYS[0] + RETRY_DELAYS[1]
    receiver.status = 200
    assert run_webhooks(app, timedelta(days=1)) == 1
    (row,) = deliveries(app)
    assert (row.status, row.attempts, row.last_status_code) == (WebhookStatus.DELIVERED, 3, 200)
    ids = {headers["webhook-id"] for headers, _, _ in receiver.received}
    assert len(ids) == 1  # a retry keeps its webhook-id
    assert len(verified(receiver, secret)) == 3
    # Just over three days in all: the last failure is past the switch-off rule.
    assert timedelta(days=3) <= sum(RETRY_DELAYS, timedelta()) < timedelta(days=3, hours=1)


def test_a_lone_event_failing_to_its_last_try_switches_the_endpoint_off(
    private_ok: Flask, receiver: WebhookReceiver
) -> None:
    """One event, never taken: its last try comes after three days of failures, so the
    endpoint goes off and admins are told; a binary answer is kept as printable text."""
    app = private_ok
    register(app, receiver.url, ("contact.created",))
    receiver.status = 500
    receiver.reply = b"\x00\x01 binary \xff\xfe answer"
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    elapsed = timedelta(0)
    assert run_webhooks(app) == 0
    for delay in RETRY_DELAYS:
        elapsed += delay + timedelta(seconds=1)
        assert run_webhooks(app, elapsed) == 0
    (row,) = deliveries(app)
    assert (row.status, row.attempts) == (WebhookStatus.FAILED, len(RETRY_DELAYS) + 1)
    assert row.response_excerpt is not None and "\x00" not in row.response_excerpt
    assert "binary" in row.response_excerpt
    with app.app_context():
        endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
        assert endpoint.active is False and endpoint.disabled_at is not None


def test_redirects_are_not_followed(private_ok: Flask, receiver: WebhookReceiver) -> None:
    app = private_ok
    register(app, receiver.url, ("contact.created",))
    receiver.status = 307
    receiver.location = receiver.url + "/elsewhere"
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    run_webhooks(app)
    assert [path for _, _, path in receiver.received] == ["/hooks"]
    (row,) = deliveries(app)
    assert (row.status, row.last_status_code) == (WebhookStatus.PENDING, 307)


def test_an_endpoint_failing_for_three_days_is_switched_off_and_admins_are_told(
    private_ok: Flask, receiver: WebhookReceiver, admin_id: int
) -> None:
    app = private_ok
    register(app, receiver.url, ("contact.created",))
    receiver.status = 500
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    run_webhooks(app)
    run_webhooks(app, timedelta(days=2, hours=23))
    with app.app_context():
        endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
        assert endpoint.active and endpoint.failing_since is not None
    run_webhooks(app, timedelta(days=3, hours=1))
    with app.app_context():
        endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
        assert not endpoint.active and endpoint.disabled_at is not None
        mails = db.session.scalars(
            sa.select(OutboundEmail).where(OutboundEmail.kind == "webhook_disabled")
        ).all()
        assert len(mails) == 1 and receiver.url in mails[0].body_text
        find_or_create_contact("ander@example.be", "nl", "web_form")
        db.session.commit()
    assert len(deliveries(app)) == 1  # a switched-off endpoint gets no new events
    sent = len(receiver.received)
    run_webhooks(app, timedelta(days=4))
    assert len(receiver.received) == sent


def test_send_again_switches_the_endpoint_back_on_and_keeps_the_webhook_id(
    private_ok: Flask, receiver: WebhookReceiver
) -> None:
    app = private_ok
    secret = register(app, receiver.url, ("contact.created",))
    receiver.status = 500
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
        endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
        endpoint.active = False
        delivery = db.session.scalars(sa.select(WebhookDelivery)).one()
        delivery.status = WebhookStatus.FAILED
        db.session.commit()
    assert run_webhooks(app) == 0 and receiver.received == []
    receiver.status = 200
    with app.app_context():
        send_again(db.session.scalars(sa.select(WebhookDelivery)).one())
    assert run_webhooks(app) == 1
    (payload,) = verified(receiver, secret)
    assert payload["type"] == "contact.created"


def test_private_targets_are_refused_without_the_flag(
    app: Flask, receiver: WebhookReceiver
) -> None:
    register(app, receiver.url, ("contact.created",))
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    assert run_webhooks(app) == 0
    assert receiver.received == []
    (row,) = deliveries(app)
    assert row.last_status_code is None
    assert row.response_excerpt == "127.0.0.1 resolves to a private address (127.0.0.1)"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "169.254.169.254",
        "10.1.2.3",
        "192.168.0.10",
        "::1",
        "fd00:ec2::254",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "2002:a9fe:a9fe::",  # 6to4 around 169.254.169.254
    ],
)
def test_resolve_target_refuses_private_addresses(app: Flask, host: str) -> None:
    with app.app_context(), pytest.raises(TargetRefused, match="private address"):
        resolve_target(host, 443)


def test_resolve_target_allows_private_addresses_only_with_the_flag(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(TargetRefused, match="does not resolve"):
            resolve_target("no-such-host.invalid", 443)
        assert resolve_target("93.184.215.14", 443) == "93.184.215.14"
        app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
        assert resolve_target("10.1.2.3", 443) == "10.1.2.3"


def test_both_engines_run_the_delivery(app: Flask) -> None:
    from consentapp.tasks import celery

    job = schedule(app.config).job("outgoing_webhooks")
    assert job.run is deliver_webhooks
    assert job.seconds == app.config["WORKER_POLL_SECONDS"]
    assert job.task in celery.tasks


def test_admins_add_an_endpoint_read_its_log_and_send_a_delivery_again(
    private_ok: Flask, admin_client: FlaskClient, receiver: WebhookReceiver
) -> None:
    app = private_ok
    form = {"url": receiver.url, "events": ["contact.created"], "personal": "y"}
    refused = post_form(admin_client, "/staff/webhooks", {**form, "url": "ftp://x"})
    assert refused.status_code == 400
    assert "https://" in refused.get_data(as_text=True)
    assert post_form(admin_client, "/staff/webhooks", {**form, "events": []}).status_code == 400
    added = post_form(admin_client, "/staff/webhooks", form)
    assert added.status_code == 200
    html = added.get_data(as_text=True)
    secret = html.split("<code>")[1].split("</code>")[0]
    assert secret.startswith("whsec_")
    with app.app_context():
        endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
        assert endpoint.include_personal and endpoint.events == ["contact.created"]
        assert endpoint.secret == secret
        public_id = endpoint.public_id
        find_or_create_contact(ADDRESS, "nl", "web_form")
        db.session.commit()
    assert secret not in admin_client.get("/staff/webhooks").get_data(as_text=True)
    run_webhooks(app)
    page = admin_client.get(f"/staff/webhooks/{public_id}").get_data(as_text=True)
    assert "contact.created" in page and "delivered" in page and "204" in page
    (row,) = deliveries(app)
    path = f"/staff/webhooks/{public_id}/deliveries/{row.public_id}/send-again"
    assert admin_client.post(path).status_code == 400  # no CSRF token
    token = csrf_token(admin_client, f"/staff/webhooks/{public_id}")
    again = admin_client.post(path, data={"csrf_token": token})
    assert again.status_code == 302
    assert (
        admin_client.post(
            f"/staff/webhooks/{public_id}/deliveries/msg_other/send-again",
            data={"csrf_token": token},
        ).status_code
        == 404
    )
    run_webhooks(app)
    payloads = verified(receiver, secret)
    assert len(payloads) == 2 and payloads[0] == payloads[1]
    assert payloads[1]["data"]["email"] == ADDRESS  # type: ignore[index]
    assert len({headers["webhook-id"] for headers, _, _ in receiver.received}) == 1


def test_https_receivers_are_verified_against_the_host_name(
    private_ok: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = private_ok
    certificate = self_signed_certificate(tmp_path)
    receiver = WebhookReceiver(tls=certificate)
    try:
        secret = register(app, receiver.url, ("contact.created",))
        with app.app_context():
            find_or_create_contact(ADDRESS, "nl", "web_form")
            db.session.commit()
        assert run_webhooks(app) == 0  # a certificate nobody vouches for
        (row,) = deliveries(app)
        assert row.last_status_code is None and "CERTIFICATE_VERIFY_FAILED" in (
            row.response_excerpt or ""
        )
        assert receiver.received == []
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        assert run_webhooks(app, RETRY_DELAYS[0] + timedelta(seconds=1)) == 1
        (payload,) = verified(receiver, secret)
        assert payload["type"] == "contact.created"
        assert receiver.received[0][0]["Host"] == f"localhost:{receiver.port}"
    finally:
        receiver.stop()
