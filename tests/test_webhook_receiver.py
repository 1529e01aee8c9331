"""The "Done when" of outgoing webhooks, from the receiver's side: the example receiver
(examples/webhook_receiver.py, run as its own process, as an integrator would) verifies
every one of the ten events with the `standardwebhooks` library, each with the payload
shape it promises: the event, the time, the contact's id, the topic where there is
one, personal fields only for an endpoint that includes them, and nothing erased in
an erasure. Bad signatures are refused with 400."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks import Webhook

from consentapp.extensions import db
from consentapp.models import BounceType, DataRequest, utcnow
from consentapp.services.consent import Origin
from consentapp.services.contacts import find_contact
from consentapp.services.outgoing_webhooks import EVENTS, add_endpoint
from tests.builders import ADDRESS
from tests.flows import confirm, confirmation_link, subscribe
from tests.helpers import run_webhooks
from tests.services import PROJECT_DIR, SMTPServer

EXAMPLE = PROJECT_DIR / "examples" / "webhook_receiver.py"
NAME = "Lies Peeters"


class ExampleReceiver:
    """examples/webhook_receiver.py in its own process on a free port; the events it
    prints are read from its standard output."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--port", "0"],
            env={**os.environ, "WEBHOOK_SECRET": secret},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None and self.process.stdout is not None
        first = self.process.stderr.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first
        self.url = first.split()[-1] + "hooks"
        self.lines: queue.Queue[str] = queue.Queue()
        stdout = self.process.stdout
        self.reader = threading.Thread(
            target=lambda: [self.lines.put(line) for line in stdout], daemon=True
        )
        self.reader.start()

    def events(self, count: int) -> list[dict[str, object]]:
        """The next `count` events it printed (waiting a little for each)."""
        return [json.loads(self.lines.get(timeout=10)) for _ in range(count)]

    def nothing_more(self) -> bool:
        try:
            self.lines.get(timeout=0.5)
        except queue.Empty:
            return True
        return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        self.reader.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def secrets_and_receivers(
    app: Flask,
) -> Iterator[tuple[ExampleReceiver, str, ExampleReceiver, str]]:
    """Two endpoints for all ten events, each at its own example receiver started with
    its secret: one with ids only, one that includes personal fields."""
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    started: list[ExampleReceiver] = []
    try:
        with app.app_context():
            for personal in (False, True):
                endpoint, secret = add_endpoint(
                    "http://127.0.0.1/", EVENTS, include_personal=personal
                )
                started.append(ExampleReceiver(secret))
                endpoint.url = started[-1].url
                started[-1].secret = secret
            db.session.commit()
        yield started[0], started[0].secret, started[1], started[1].secret
    finally:
        for receiver in started:
            receiver.stop()


def every_event(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> tuple[str, str]:
    """Cause each of the ten events but the erasure, through the services that own
    them; returns the contact's and the data request's public ids."""
    from consentapp.services.bounces import record_refusal
    from consentapp.services.preferences import rectify
    from consentapp.services.rights import finish_request, submit_request
    from consentapp.services.subscriptions import withdraw

    subscribe(client)  # contact.created, subscription.requested
    confirm(client, confirmation_link(app, smtp_server))  # subscription.confirmed
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        rectify(contact, {"name": NAME}, Origin(None, None), "nl")  # contact.rectified
        db.session.commit()
        withdraw(contact, ["product-updates"], "staff", None, "nl")  # subscription.withdrawn
        db.session.commit()
        record_refusal(contact.id, ADDRESS, 9001, None, BounceType.SOFT, "450", "later")
        record_refusal(contact.id, ADDRESS, 9002, None, BounceType.COMPLAINT, None, "spam")
        db.session.commit()
        submit_request(ADDRESS, "access", "nl")  # data_request.received
        request = db.session.scalars(sa.select(DataRequest)).one()
        finish_request(request, "sent a copy", None)  # data_request.completed
        db.session.commit()
        return contact.public_id, request.public_id


def check_shape(event: dict[str, object], subject: str, request_id: str) -> dict[str, object]:
    """What every payload carries; returns its data."""
    data = event["data"]
    assert isinstance(data, dict)
    assert str(event["id"]).startswith("msg_")
    assert event["type"] in EVENTS
    sent = datetime.fromisoformat(str(event["timestamp"]))
    assert abs(sent - utcnow()) < timedelta(minutes=5)
    assert data["contact"] == subject
    if str(event["type"]).startswith("subscription."):
        assert data["topic"] == "product-updates"
    if str(event["type"]).startswith("data_request."):
        assert data["request"] == request_id and data["kind"] == "access"
    return data


def test_the_example_receiver_verifies_all_ten_events_with_their_payload_shape(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    secrets_and_receivers: tuple[ExampleReceiver, str, ExampleReceiver, str],
) -> None:
    plain, _, personal, _ = secrets_and_receivers
    subject, request_id = every_event(app, client, smtp_server)
    assert run_webhooks(app) == 2 * 9
    from consentapp.services.erasure import erase_person

    with app.app_context():
        erase_person(find_contact(ADDRESS))  # type: ignore[arg-type]
        db.session.commit()  # contact.erased
    assert run_webhooks(app) == 2
    plain_events, personal_events = plain.events(10), personal.events(10)
    assert plain.nothing_more() and personal.nothing_more()
    assert sorted(str(e["type"]) for e in plain_events) == sorted(EVENTS)
    assert [e["type"] for e in personal_events] == [e["type"] for e in plain_events]
    for event in plain_events:
        data = check_shape(event, subject, request_id)
        assert "email" not in data and "name" not in data
        assert ADDRESS not in json.dumps(event) and "Lies" not in json.dumps(event)
    for event in personal_events:
        data = check_shape(event, subject, request_id)
        if event["type"] == "contact.erased":
            assert data == {"contact": subject}  # nothing erased travels
        else:
            assert data["email"] == ADDRESS and data["name"] == NAME
    rectified = next(e for e in plain_events if e["type"] == "contact.rectified")
    assert rectified["data"] == {"contact": subject, "field": "name"}
    ids = [e["id"] for e in plain_events + personal_events]
    assert len(set(ids)) == len(ids)  # one webhook-id per event per endpoint


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_example_receiver_refuses_bad_signatures_and_prints_repeats_once(
    app: Flask,
    secrets_and_receivers: tuple[ExampleReceiver, str, ExampleReceiver, str],
) -> None:
    receiver, secret, _, other_secret = secrets_and_receivers
    body = json.dumps({"type": "contact.created", "timestamp": "x", "data": {}})
    now = utcnow()

    def signed(with_secret: str, content: str = body) -> dict[str, str]:
        return {
            "webhook-id": "msg_test",
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(with_secret).sign("msg_test", now, content),
        }

    assert post(receiver.url, body.encode(), {}) == 400  # no headers
    assert post(receiver.url, body.encode(), signed(other_secret)) == 400  # wrong secret
    assert post(receiver.url, body.encode(), signed(secret, body + " ")) == 400  # body changed
    broken = {**signed(secret), "webhook-signature": "v1"}
    assert post(receiver.url, body.encode(), broken) == 400  # malformed header
    old = {**signed(secret), "webhook-timestamp": str(int(now.timestamp()) - 3600)}
    assert post(receiver.url, body.encode(), old) == 400  # an hour old: a replay
    assert receiver.nothing_more()
    assert post(receiver.url, body.encode(), signed(secret)) == 204
    assert post(receiver.url, body.encode(), signed(secret)) == 204  # a repeat
    (event,) = receiver.events(1)
    assert event["id"] == "msg_test" and event["type"] == "contact.created"
    assert receiver.nothing_more()
