"""The Celery engine: with CELERY_BROKER_URL set, Celery workers on Redis do what the
built-in worker does (delivery, campaign queueing, periodic clean-ups), any number of
them, on any number of machines. Without it, nothing here runs.

    celery -A consentapp.celery_worker worker --beat

The outbox stays the queue: tasks only say "there is work"; rows are claimed with a
lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so two workers never send one row.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from celery import Celery, Task
from flask import Flask

from consentapp.extensions import db

log = logging.getLogger(__name__)
celery = Celery("consentapp")

TICK_SECONDS = 5.0
HOUSEKEEPING_SECONDS = 3600.0


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
        beat_schedule={
            "tick": {"task": "consentapp.tick", "schedule": TICK_SECONDS},
            "housekeeping": {
                "task": "consentapp.housekeeping",
                "schedule": HOUSEKEEPING_SECONDS,
            },
        },
    )
    celery.Task = AppContextTask
    app.extensions["celery"] = celery
    return celery


@celery.task(name="consentapp.deliver")
def deliver() -> int:
    """One delivery pass; a full batch asks for the next one at once."""
    from flask import current_app

    from consentapp.mail.delivery import deliver_due

    report = deliver_due()
    if report.handled >= current_app.config["MAIL_BATCH_SIZE"] and not report.retrying:
        deliver.delay()
    return report.sent


@celery.task(name="consentapp.tick")
def tick() -> int:
    """Start due campaigns, queue a batch of each, and deliver."""
    from consentapp.services.campaigns import run_due_campaigns

    queued = run_due_campaigns()
    deliver.delay()
    if queued:
        tick.delay()
    return queued


@celery.task(name="consentapp.housekeeping")
def housekeeping() -> None:
    """The hourly clean-ups and the dashboard recount."""
    from consentapp.services.csv_import import discard_old_uploads
    from consentapp.services.dashboard import refresh_snapshot
    from consentapp.services.retention import purge_unconfirmed
    from consentapp.services.rights import expire_unverified

    purge_unconfirmed()
    expire_unverified()
    discard_old_uploads()
    refresh_snapshot()


def kick_delivery(session: sa.orm.Session) -> None:
    """After a commit that queued mail: ask a Celery worker to deliver it now.

    A broker that does not answer changes nothing for the request: the mail is in the
    outbox, and the next periodic tick delivers it.
    """
    if session.info.pop("outbox_added", False) and celery.conf.broker_url:
        try:
            deliver.apply_async(retry=False)
        except Exception:  # the broker is down: the beat tick will pick the mail up
            log.warning("could not reach the Celery broker; the next tick delivers")
