"""The broker-less worker: delivers the outbox and runs periodic jobs in one process."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from flask import Flask

from consentapp.extensions import db
from consentapp.mail.delivery import DeliveryReport, deliver_due

log = logging.getLogger(__name__)


def run_pass(app: Flask) -> DeliveryReport:
    """One round of every job; returns what mail delivery did."""
    with app.app_context():
        try:
            return deliver_due()
        finally:
            db.session.remove()


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
    while not stop.is_set():
        try:
            report = run_pass(app)
        except Exception:  # a bad pass must not end the worker
            log.exception("worker: delivery pass failed")
            report = DeliveryReport()
        if report.handled:
            log.info(
                "worker: sent %d, retrying %d, failed %d",
                report.sent,
                report.retrying,
                report.failed,
            )
        if once:
            return
        if report.handled < batch or report.retrying:
            stop.wait(poll)
