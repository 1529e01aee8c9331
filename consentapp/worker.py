"""The broker-less worker: delivers the outbox and runs periodic jobs in one process."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.mail.delivery import DeliveryReport, deliver_due
from consentapp.services.campaigns import run_due_campaigns
from consentapp.services.csv_import import discard_old_uploads
from consentapp.services.dashboard import refresh_snapshot
from consentapp.services.retention import purge_unconfirmed
from consentapp.services.rights import expire_unverified

log = logging.getLogger(__name__)

# The database not answering (restarting, failing over): wait and try again, longer
# each time up to this, rather than end the worker. Connections are re-made by the
# pool (pool_pre_ping) once it is back.
DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError)
LONGEST_DATABASE_WAIT = 10.0


def run_pass(app: Flask) -> DeliveryReport:
    """One round: start due campaigns and queue a batch of each, then deliver mail."""
    with app.app_context():
        try:
            run_due_campaigns()
            return deliver_due()
        finally:
            db.session.remove()


def refresh_dashboard(app: Flask) -> None:
    """Recount the dashboard's numbers so the page reads one row."""
    with app.app_context():
        try:
            refresh_snapshot()
        finally:
            db.session.remove()


def run_purges(app: Flask) -> int:
    """The periodic clean-up: sign-ups never confirmed in time, requests never verified,
    import files never imported."""
    with app.app_context():
        try:
            removed = purge_unconfirmed()
            expire_unverified()
            discard_old_uploads()
        finally:
            db.session.remove()
    if removed:
        log.info("worker: removed %d unconfirmed sign-ups", removed)
    return removed


class PeriodicJob:
    """Runs a job at most once per interval (first at start-up)."""

    def __init__(self, interval_seconds: float) -> None:
        self.interval = interval_seconds
        self.last: float | None = None

    def due(self) -> bool:
        """True (and the clock restarts) when the interval has passed."""
        now = time.monotonic()
        if self.last is None or now - self.last >= self.interval:
            self.last = now
            return True
        return False


class Rounds:
    """The worker's rounds: periodic jobs, then a delivery pass; a database outage is
    waited out with a growing pause instead of ending the worker."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.poll = app.config["WORKER_POLL_SECONDS"]
        self.purges = PeriodicJob(app.config["PURGE_INTERVAL_MINUTES"] * 60)
        self.dashboard = PeriodicJob(app.config["DASHBOARD_REFRESH_SECONDS"])
        self.outage = 0

    def run(self) -> DeliveryReport | None:
        """One round's report, or None while the database does not answer."""
        try:
            if self.purges.due():
                run_purges(self.app)
            if self.dashboard.due():
                refresh_dashboard(self.app)
            report = run_pass(self.app)
        except DATABASE_DOWN as exc:
            self.outage += 1
            log.warning(
                "worker: database unavailable, retrying in %.1f s: %s", self.pause(), exc.orig
            )
            return None
        except Exception:  # a bad pass must not end the worker
            log.exception("worker: pass failed")
            report = DeliveryReport()
        if self.outage:
            log.info("worker: the database answers again")
            self.outage = 0
        return report

    def pause(self) -> float:
        """Before the next try during an outage: the poll interval, doubling, at most
        LONGEST_DATABASE_WAIT."""
        doubled = max(self.poll, 0.5) * 2 ** min(self.outage - 1, 8)
        return float(min(doubled, LONGEST_DATABASE_WAIT))


def run_worker(app: Flask, once: bool = False, stop: threading.Event | None = None) -> None:
    """Loop until SIGTERM/SIGINT (or `stop`); a full batch is followed at once by the next."""
    stop = stop or threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("worker: signal %s, finishing the current message", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    poll = app.config["WORKER_POLL_SECONDS"]
    batch = app.config["MAIL_BATCH_SIZE"]
    rounds = Rounds(app)
    while not stop.is_set():
        report = rounds.run()
        if report is None:
            if once:
                return
            stop.wait(rounds.pause())
            continue
        if report.handled:
            log.info(
                "worker: sent %d, retrying %d, failed %d, cancelled %d",
                report.sent,
                report.retrying,
                report.failed,
                report.cancelled,
            )
        if once:
            return
        if report.handled < batch or report.retrying:
            stop.wait(poll)
