"""The Celery engine for real: a redis-server and two Celery worker processes against
PostgreSQL deliver a campaign, and nobody gets it twice.

Skipped without redis-server unless CONSENTAPP_TEST_REDIS=required (set by CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from flask import Flask

from tests.builders import bulk_subscribers, make_campaign
from tests.services import SMTPServer

PROJECT_DIR = Path(__file__).resolve().parent.parent


def start_workers(
    app: Flask, smtp_server: SMTPServer, broker: str, count: int, **extra: str
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CONSENTAPP_INSTANCE": app.instance_path,
        "CELERY_BROKER_URL": broker,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_BATCH_SIZE": "25",
        **extra,
    }
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "consentapp.celery_worker",
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"test{number}@%h",
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for number in range(count)
    ]


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
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
        client.close()
    with app.app_context():
        service.run_due_campaigns()
        campaign = db.session.scalar(db.select(Campaign))
        assert campaign is not None and campaign.status == "sent"
