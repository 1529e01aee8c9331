"""With Celery as the engine, a commit that queued outgoing webhooks asks a worker to
deliver them at once: a real redis-server and a real Celery worker (no beat) bring the
events to a real receiver, more than one batch of them; nothing is asked before the
commit (a released savepoint is not the commit) or after a rollback.

Skipped without redis-server unless CONSENTAPP_TEST_REDIS=required (set by CI).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from standardwebhooks import Webhook

from consentapp import register_engine
from consentapp.extensions import db
from consentapp.services.contacts import find_or_create_contact
from consentapp.services.outgoing_webhooks import add_endpoint
from consentapp.services.rights import open_request
from consentapp.services.webhook_delivery import BATCH
from consentapp.tasks import celery, forget_queued, kick_delivery
from tests.services import SMTPServer, WebhookReceiver, start_workers, stop_workers

pytestmark = pytest.mark.celery


@pytest.fixture
def celery_app(app: Flask, redis_url: str) -> Iterator[Flask]:
    """The app with Celery as its engine (the broker is the test redis-server); the
    process-wide Celery settings and session hooks are put back afterwards."""
    redis.Redis.from_url(redis_url).flushdb()
    app.config.update(CELERY_BROKER_URL=redis_url, WEBHOOK_ALLOW_PRIVATE_TARGETS=True)
    register_engine(app)
    yield app
    celery.conf.broker_url = None
    for name, hook in (("after_commit", kick_delivery), ("after_rollback", forget_queued)):
        if sa.event.contains(sa.orm.Session, name, hook):
            sa.event.remove(sa.orm.Session, name, hook)


def queued_tasks(redis_url: str) -> list[str]:
    """The names of the tasks waiting in Celery's default queue."""
    import json

    client = redis.Redis.from_url(redis_url)
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange("celery", 0, -1)]


def test_a_committed_event_is_delivered_by_celery_without_waiting_for_the_beat(
    celery_app: Flask, redis_url: str, smtp_server: SMTPServer
) -> None:
    app = celery_app
    receiver = WebhookReceiver()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with app.app_context():
            events = ("contact.created", "data_request.received")
            secret = add_endpoint(receiver.url, events)[1]
            assert queued_tasks(redis_url) == []  # adding an endpoint queues no event
            open_request("access", "phone", "gone@example.be", "nl", None)
            db.session.flush()
            db.session.rollback()
            assert queued_tasks(redis_url) == []  # rolled back: nothing to deliver
            # More than one batch in one transaction: one kick, then batch after batch.
            subjects = {
                find_or_create_contact(f"person{number}@example.be", "nl", "web_form").public_id
                for number in range(BATCH + 10)
            }
            db.session.flush()
            assert queued_tasks(redis_url) == []  # never before the commit
            db.session.commit()
            assert queued_tasks(redis_url) == ["consentapp.outgoing_webhooks"]
            db.session.remove()
        # One worker, no beat, nobody else sending tasks: only the kick can deliver.
        workers = start_workers(
            app, smtp_server, redis_url, 1, WEBHOOK_ALLOW_PRIVATE_TARGETS="true"
        )
        deadline = time.monotonic() + 60
        while len(receiver.received) < len(subjects) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(receiver.received) == BATCH + 10, "the kicked task delivered them all"
        hook = Webhook(secret)
        payloads = [
            hook.verify(body, {k.lower(): v for k, v in headers.items()})
            for headers, body, _ in receiver.received
        ]
        assert {p["type"] for p in payloads} == {"contact.created"}
        assert {p["data"]["contact"] for p in payloads} == subjects
    finally:
        stop_workers(workers)
        receiver.stop()
