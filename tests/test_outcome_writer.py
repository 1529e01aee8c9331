"""The outcome writer: accepted messages are recorded by a thread of their own, and the
sender never gets more than MAIL_PIPELINE_DEPTH of them ahead of their record (the
duplicate bound of a worker killed mid-campaign)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.mail.leases import Outgoing
from consentapp.mail.outbox import queue_email
from consentapp.mail.outcomes import OutcomeWriter
from consentapp.models import OutboundEmail, utcnow
from consentapp.services.delivery import claim_due


def claimed(app: Flask, count: int) -> list[Outgoing]:
    """`count` queued mails, claimed as a delivery pass claims them."""
    with app.app_context():
        for number in range(count):
            queue_email(
                to=f"reader{number}@example.be",
                template="contact_ack",
                language="nl",
                subject="Test",
                context={"reference": "ref", "org_name": "CRM"},
            )
        db.session.commit()
        return claim_due(utcnow(), count)


def statuses(app: Flask) -> list[str]:
    with app.app_context():
        found = db.session.scalars(sa.select(OutboundEmail.status).order_by(OutboundEmail.id))
        result = list(found)
        db.session.remove()
        return result


@contextmanager
def writes_blocked(app: Flask) -> Iterator[None]:
    """Another connection holds the lock the outcome UPDATE needs (readers go on)."""
    with app.app_context():
        connection = db.engine.connect()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("LOCK TABLE outbound_emails IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()
            connection.close()


def wait_for(condition: object, seconds: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_the_sender_waits_once_depth_messages_wait_for_their_record(app: Flask) -> None:
    rows = claimed(app, 6)
    returned: list[int] = []
    with app.app_context():
        writer = OutcomeWriter(db.engine, depth=3)

        def sender() -> None:
            for row in rows:
                writer.add(row, utcnow())
                returned.append(row.id)

        with writes_blocked(app):
            thread = threading.Thread(target=sender)
            thread.start()
            wait_for(lambda: len(returned) >= 3)
            time.sleep(0.3)  # room for a fourth add that should not return
            assert len(returned) == 3, "three accepted messages may wait, not a fourth"
            assert statuses(app) == ["sending"] * 6
        thread.join(timeout=20)
        writer.close()
    assert returned == [row.id for row in rows]
    assert statuses(app) == ["sent"] * 6


def test_depth_zero_records_each_message_before_the_next(app: Flask) -> None:
    rows = claimed(app, 3)
    seen: list[list[str]] = []
    with app.app_context():
        writer = OutcomeWriter(db.engine, depth=0)
        for row in rows:
            writer.add(row, utcnow())
            seen.append(statuses(app))
        writer.close()
    assert seen == [
        ["sent", "sending", "sending"],
        ["sent", "sent", "sending"],
        ["sent", "sent", "sent"],
    ]


def test_attempts_and_time_of_acceptance_are_recorded(app: Flask) -> None:
    (row,) = claimed(app, 1)
    accepted = utcnow()
    with app.app_context():
        writer = OutcomeWriter(db.engine, depth=8)
        writer.add(row, accepted)
        writer.close()
        found = db.session.get(OutboundEmail, row.id)
        assert found is not None
        assert (found.attempts, found.claim_token, found.lease_until) == (1, None, None)
        assert found.sent_at is not None
        assert (
            abs(found.sent_at.replace(tzinfo=None) - accepted.replace(tzinfo=None)).total_seconds()
            < 1
        )
