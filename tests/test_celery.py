"""The Celery engine for real: a redis-server and two Celery worker processes against
PostgreSQL deliver a campaign, and nobody gets it twice.

Skipped without redis-server unless CONSENTAPP_TEST_REDIS=required (set by CI).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from celery import Celery
from flask import Flask

from tests.builders import bulk_subscribers, make_campaign
from tests.services import SMTPServer, start_workers, stop_workers

pytestmark = pytest.mark.celery


def test_two_celery_workers_deliver_a_campaign_exactly_once(
    app: Flask, smtp_server: SMTPServer, redis_url: str
) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("Celery workers run against PostgreSQL")
    total = 300
    bulk_subscribers(app, total)
    make_campaign(app)
    from consentapp.extensions import db
    from consentapp.models import Campaign
    from consentapp.services import campaign_sending
    from consentapp.services import campaigns as service

    with app.app_context():
        campaign = db.session.scalar(db.select(Campaign))
        assert campaign is not None
        service.schedule(campaign, None, None)
    workers = start_workers(app, smtp_server, redis_url, 2)
    client = Celery(broker=redis_url)
    try:
        deadline = time.monotonic() + 90
        while smtp_server.handler.count < total and time.monotonic() < deadline:
            client.send_task("consentapp.tick")
            client.send_task("consentapp.deliver")
            time.sleep(1)
        received = Counter(
            address for envelope in smtp_server.handler.envelopes for address in envelope.rcpt_tos
        )
        assert len(received) == total, f"{len(received)} of {total} delivered"
        assert max(received.values()) == 1, "two workers never send the same message"
    finally:
        stop_workers(workers)
        client.close()
    with app.app_context():
        campaign_sending.run_due_campaigns()
        campaign = db.session.scalar(db.select(Campaign))
        assert campaign is not None and campaign.status == "sent"


def test_both_engines_run_the_same_jobs_at_the_intervals_from_the_configuration(
    app: Flask,
) -> None:
    """Celery beat and the built-in worker read one schedule: the same jobs, each as
    often as PURGE_INTERVAL_MINUTES, DASHBOARD_REFRESH_SECONDS and WORKER_POLL_SECONDS
    say (no broker needed)."""
    from consentapp.tasks import celery, init_celery
    from consentapp.worker import Rounds

    app.config.update(PURGE_INTERVAL_MINUTES=7, DASHBOARD_REFRESH_SECONDS=45, WORKER_POLL_SECONDS=3)
    expected = {
        "consentapp.housekeeping": 420,
        "consentapp.dashboard": 45,
        "consentapp.bounces": 3,
        "consentapp.outgoing_webhooks": 3,
        "consentapp.tick": 3,
    }
    beat = {
        entry["task"]: entry["schedule"] for entry in init_celery(app).conf.beat_schedule.values()
    }
    assert beat == expected
    assert set(beat) <= set(celery.tasks), "every scheduled job is a Celery task"
    rounds = Rounds(app)
    worker = {job.task: timer.interval for job, timer in rounds.timers}
    assert worker | {rounds.tick.task: rounds.poll} == expected
