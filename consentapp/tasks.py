"""The Celery engine: with CELERY_BROKER_URL set, Celery workers on Redis do what the
built-in worker does (delivery, campaign queueing, periodic clean-ups, on the one
schedule of `consentapp/schedule.py`), any number of them, on any number of machines.
Without it, nothing here runs.

    celery -A consentapp.celery_worker worker --beat

The outbox stays the queue: tasks only say "there is work"; rows are claimed with a
lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never send one row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from celery import Celery, Task
from flask import Flask, current_app

from consentapp.extensions import db
from consentapp.schedule import schedule

log = logging.getLogger(__name__)
celery = Celery("consentapp")


def beat_schedule(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Celery beat's entries: every job of the schedule, at its interval."""
    return {
        job.name: {"task": job.task, "schedule": job.seconds}
        for job in schedule(config).every_job()
    }


def init_celery(app: Flask) -> Celery:
    """Bind the Celery app to a Flask app: every task runs in its app context."""

    class AppContextTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    db.session.remove()

    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        beat_schedule=beat_schedule(app.config),
    )
    celery.Task = AppContextTask
    app.extensions["celery"] = celery
    return celery


@celery.task(name="consentapp.deliver")
def deliver() -> int:
    """One delivery pass; a full batch asks for the next one at once."""
    from consentapp.services.delivery import deliver_due

    report = deliver_due()
    if report.handled >= current_app.config["MAIL_BATCH_SIZE"] and not report.retrying:
        deliver.delay()
    return report.sent


@celery.task(name="consentapp.tick")
def tick() -> object:
    """The schedule's tick (start due campaigns, queue a batch of each), then deliver."""
    queued = schedule(current_app.config).tick.run()
    deliver.delay()
    if queued:
        tick.delay()
    return queued


@celery.task(name="consentapp.housekeeping")
def housekeeping() -> None:
    """The schedule's clean-ups (every PURGE_INTERVAL_MINUTES)."""
    schedule(current_app.config).job("housekeeping").run()


@celery.task(name="consentapp.dashboard")
def dashboard() -> None:
    """The schedule's dashboard recount (every DASHBOARD_REFRESH_SECONDS)."""
    schedule(current_app.config).job("dashboard").run()


@celery.task(name="consentapp.bounces")
def bounces() -> None:
    """The schedule's reading of queued bounce reports (every WORKER_POLL_SECONDS)."""
    schedule(current_app.config).job("bounces").run()


@celery.task(name="consentapp.outgoing_webhooks")
def outgoing_webhooks() -> None:
    """The schedule's delivery of outgoing webhooks (every WORKER_POLL_SECONDS, and at
    once after a commit that queued some); a full batch asks for the next one at once."""
    from consentapp.services.webhook_delivery import BATCH

    delivered = schedule(current_app.config).job("outgoing_webhooks").run()
    if isinstance(delivered, int) and delivered >= BATCH:
        outgoing_webhooks.delay()


@celery.task(name="consentapp.bounce_mailbox")
def bounce_mailbox() -> None:
    """The schedule's poll of the bounce mailbox (every BOUNCE_MAILBOX_POLL_SECONDS, when
    BOUNCE_MAILBOX_URL is set)."""
    schedule(current_app.config).job("bounce_mailbox").run()


def kick_delivery(session: sa.orm.Session) -> None:
    """After a commit that queued mail or outgoing webhooks: ask a Celery worker to
    deliver them now, rather than at the next beat.

    Only after the outermost commit (this is the session's `after_commit` hook, which
    SQLAlchemy also calls when a savepoint is released), so the worker always finds
    the rows. A broker that does not answer changes nothing for the
    request: the rows are queued, and the next periodic run delivers them.
    """
    if session.in_nested_transaction():
        return  # a savepoint released: the rows are not committed yet
    mail = session.info.pop("outbox_added", False)
    hooks = session.info.pop("webhooks_added", False)
    if not celery.conf.broker_url:
        return
    for wanted, task in ((mail, deliver), (hooks, outgoing_webhooks)):
        if not wanted:
            continue
        try:
            task.apply_async(retry=False)
        except Exception:  # the broker is down: the beat will pick the rows up
            log.warning("could not reach the Celery broker; the next beat delivers")
            return


def forget_queued(session: sa.orm.Session) -> None:
    """After a rollback: what was queued is gone, so there is nothing to kick. (A
    savepoint rolled back leaves the flags: what came before it may still commit.)"""
    if session.in_nested_transaction():
        return
    session.info.pop("outbox_added", None)
    session.info.pop("webhooks_added", None)
