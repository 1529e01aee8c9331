"""Recovery after kill -9: a worker killed with SIGKILL leaves its claimed rows leased
for at most MAIL_LEASE_SECONDS; a worker started again, or another one already
running (broker-less or Celery, on this machine or another), takes them over within
30 seconds. Everyone gets the campaign; at most the messages in flight arrive twice
(MAIL_PIPELINE_DEPTH accepted but not yet recorded, and one on the wire on each of
the MAIL_CONNECTIONS connections).

Real processes, a real SIGKILL, timed. The figures are printed (run with -s to see).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.models import Campaign, OutboundEmail, OutboundStatus
from consentapp.services import campaigns as service
from tests.builders import bulk_subscribers, make_campaign
from tests.flows import start
from tests.services import PROJECT_DIR, SMTPServer, start_workers, worker_env

pytestmark = pytest.mark.slow

TAKEOVER_BOUND = 30.0


def claimed(app: Flask) -> dict[int, str]:
    """Outbox rows some worker holds right now, with the claim they are held under."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboundEmail.id, OutboundEmail.claim_token).where(
                OutboundEmail.status == OutboundStatus.SENDING.value
            )
        ).all()
        db.session.remove()
    return {row_id: str(token) for row_id, token in rows}


def still_held(app: Flask, held: dict[int, str]) -> int:
    """How many of `held` are still under the claim they had."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboundEmail.id, OutboundEmail.claim_token).where(
                OutboundEmail.id.in_(list(held))
            )
        ).all()
        db.session.remove()
    return sum(1 for row_id, token in rows if held[row_id] == token)


def wait_for(condition: Callable[[], bool], seconds: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def received(smtp_server: SMTPServer) -> Counter[str]:
    return Counter(
        address for envelope in list(smtp_server.handler.envelopes) for address in envelope.rcpt_tos
    )


def kill_and_time_takeover(
    app: Flask,
    smtp_server: SMTPServer,
    victim: subprocess.Popen[bytes],
    after_kill: Callable[[], None] = lambda: None,
) -> tuple[float, float]:
    """SIGKILL `victim` mid-pass and wait until none of the rows held at that moment is
    still under its old claim. Returns (seconds until the takeover, seconds from the
    kill until the next message arrived)."""
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()
    count_at_kill = smtp_server.handler.count
    held = claimed(app)
    after_kill()
    assert held, "the worker was killed while it held rows"
    first_after: float | None = None

    def taken_over() -> bool:
        nonlocal first_after
        if first_after is None and smtp_server.handler.count > count_at_kill:
            first_after = time.monotonic() - killed_at
        return still_held(app, held) == 0

    # A live pass finishes its rows within a couple of seconds; the killed worker's
    # rows stay under their claim until the lease runs out.
    time.sleep(3)
    assert still_held(app, held) > 0, "the killed worker left rows claimed"
    done = wait_for(taken_over, TAKEOVER_BOUND * 2)
    takeover = time.monotonic() - killed_at
    assert done, f"rows of the killed worker still claimed {takeover:.1f} s after the kill"
    return takeover, first_after if first_after is not None else takeover


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_until_everyone_has_it(smtp_server: SMTPServer, total: int, seconds: float) -> None:
    wait_for(lambda: len(received(smtp_server)) >= total, seconds, step=0.2)


def in_flight(app: Flask) -> int:
    """The duplicate bound of one killed worker: the accepted messages not yet
    recorded, and one on the wire on each connection."""
    return int(app.config["MAIL_PIPELINE_DEPTH"]) + int(app.config["MAIL_CONNECTIONS"])


def assert_everyone_once(smtp_server: SMTPServer, total: int, in_flight: int) -> int:
    counts = received(smtp_server)
    assert len(counts) == total, f"{len(counts)} of {total} got it"
    duplicates = sum(count - 1 for count in counts.values())
    assert duplicates <= in_flight, f"{duplicates} recipients got it twice"
    return duplicates


def test_worker_killed_and_started_again_resumes_within_30_seconds(
    app: Flask, smtp_server: SMTPServer
) -> None:
    """SIGKILL mid-campaign, started again at once: the rows it held are delivered by the
    new process within 30 s (the lease), everyone gets it, at most those in flight twice."""
    total = 600
    bulk_subscribers(app, total)
    start(app, make_campaign(app))
    env = worker_env(app, smtp_server, MAIL_BATCH_SIZE="50", MAIL_RATE_PER_SECOND="40")
    workers = [start_worker(env)]
    try:
        # Mid-batch: 225 is not a multiple of the batch of 50.
        assert wait_for(lambda: smtp_server.handler.count >= 225, 60), "got going"
        assert wait_for(lambda: bool(claimed(app)), 30), "it is sending"
        takeover, first_after = kill_and_time_takeover(
            app, smtp_server, workers[0], after_kill=lambda: workers.append(start_worker(env))
        )
        wait_until_everyone_has_it(smtp_server, total, 90)
    finally:
        stop(workers)
    duplicates = assert_everyone_once(smtp_server, total, in_flight=in_flight(app))
    print(
        f"\nrestart after kill -9: next message {first_after:.1f} s after the kill, "
        f"the killed worker's rows taken over after {takeover:.1f} s, {duplicates} twice"
    )
    assert takeover < TAKEOVER_BOUND


def test_other_worker_takes_over_from_one_killed_for_good(
    app: Flask, smtp_server: SMTPServer
) -> None:
    """Two broker-less workers; one is SIGKILLed and never comes back. The other takes
    its rows over within 30 s and delivers the rest."""
    total = 1000
    bulk_subscribers(app, total)
    start(app, make_campaign(app))
    env = worker_env(app, smtp_server, MAIL_BATCH_SIZE="50", MAIL_RATE_PER_SECOND="30")
    workers = [start_worker(env), start_worker(env)]
    try:
        assert wait_for(lambda: smtp_server.handler.count >= total // 4, 60), "got going"
        assert wait_for(lambda: len(set(claimed(app).values())) == 2, 30), "both are sending"
        takeover, _ = kill_and_time_takeover(app, smtp_server, workers[0])
        wait_until_everyone_has_it(smtp_server, total, 120)
    finally:
        stop(workers)
    assert_everyone_once(smtp_server, total, in_flight=in_flight(app))
    print(f"\nsurvivor took over the killed worker's rows after {takeover:.1f} s")
    assert takeover < TAKEOVER_BOUND


@pytest.mark.celery
def test_other_celery_worker_takes_over_from_one_killed_for_good(
    app: Flask,
    smtp_server: SMTPServer,
    redis_url: str,
) -> None:
    """Two Celery workers on PostgreSQL (the README's many-machines set-up); one is
    SIGKILLed for good. The other takes its rows over within 30 s."""
    from celery import Celery

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("Celery workers run against PostgreSQL")
    total = 800
    bulk_subscribers(app, total)
    make_campaign(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        service.schedule(campaign, None, None)
    workers = start_workers(app, smtp_server, redis_url, 2, MAIL_RATE_PER_SECOND="20")
    client = Celery(broker=redis_url)

    def nudged(enough: int) -> Callable[[], bool]:
        """Ask for work as the beat would, and say when `enough` recipients have it."""

        def check() -> bool:
            client.send_task("consentapp.tick")
            client.send_task("consentapp.deliver")
            return len(received(smtp_server)) >= enough

        return check

    try:
        assert wait_for(nudged(total // 4), 90, step=1), "the workers got going"
        assert wait_for(lambda: len(set(claimed(app).values())) == 2, 30), "both are sending"
        takeover, _ = kill_and_time_takeover(app, smtp_server, workers[0])
        wait_for(nudged(total), 120, step=1)
    finally:
        stop(workers)
        client.close()
    duplicates = assert_everyone_once(smtp_server, total, in_flight=in_flight(app))
    print(f"\nCelery: the other worker took over after {takeover:.1f} s, {duplicates} twice")
    assert takeover < TAKEOVER_BOUND
