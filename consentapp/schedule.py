"""The periodic jobs, declared once, each with its interval from the configuration.

Both engines read this: the built-in worker (`consentapp/worker.py`) in its rounds,
and Celery beat (`consentapp/tasks.py`), which runs each job as the task
`consentapp.<name>`. A job runs inside an app context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from consentapp.services.bounce_mailbox import poll_job
from consentapp.services.bounces import process_queue
from consentapp.services.campaign_sending import run_due_campaigns
from consentapp.services.csv_import import discard_old_uploads
from consentapp.services.dashboard import refresh_snapshot
from consentapp.services.repermission_mail import run_due_repermissions
from consentapp.services.retention import purge_unconfirmed
from consentapp.services.rights import expire_unverified
from consentapp.services.unsubscribe_feedback import flag_never_asked
from consentapp.services.webhook_delivery import deliver_webhooks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A job that runs every `seconds`; Celery knows it as `consentapp.<name>`."""

    name: str
    run: Callable[[], object]
    seconds: float

    @property
    def task(self) -> str:
        return f"consentapp.{self.name}"


@dataclass(frozen=True)
class Schedule:
    """The tick and the other periodic jobs.

    The tick starts due campaigns and queues a batch of each; delivery follows it at
    once (the built-in worker in the same round, Celery as a deliver task). While work
    is left, the next round follows at once rather than after `tick.seconds`.
    """

    tick: Job
    jobs: tuple[Job, ...]

    def every_job(self) -> tuple[Job, ...]:
        return (*self.jobs, self.tick)

    def job(self, name: str) -> Job:
        """The job called `name` (KeyError for none)."""
        for job in self.every_job():
            if job.name == name:
                return job
        raise KeyError(name)


def clean_up() -> int:
    """Sign-ups never confirmed in time, requests never verified, import files never
    imported; "never asked for it" answers reported to the audit log. Returns how many
    sign-ups were removed."""
    removed = purge_unconfirmed()
    expire_unverified()
    discard_old_uploads()
    flag_never_asked()
    if removed:
        log.info("worker: removed %d unconfirmed sign-ups", removed)
    return removed


def queue_due_mail() -> int:
    """The tick's work: start due campaigns and queue a batch of each, and of every
    re-permission round still sending. Returns how many mails were queued."""
    return run_due_campaigns() + run_due_repermissions()


def schedule(config: Mapping[str, Any]) -> Schedule:
    """The jobs and their intervals: WORKER_POLL_SECONDS for the tick,
    PURGE_INTERVAL_MINUTES for the clean-ups, DASHBOARD_REFRESH_SECONDS for the
    dashboard's numbers; queued bounce reports are read and outgoing webhooks delivered
    as often as the tick, and the bounce mailbox, when BOUNCE_MAILBOX_URL names one,
    every BOUNCE_MAILBOX_POLL_SECONDS."""
    jobs = [
        Job("housekeeping", clean_up, float(config["PURGE_INTERVAL_MINUTES"]) * 60),
        Job("dashboard", refresh_snapshot, float(config["DASHBOARD_REFRESH_SECONDS"])),
        Job("bounces", process_queue, float(config["WORKER_POLL_SECONDS"])),
        Job("outgoing_webhooks", deliver_webhooks, float(config["WORKER_POLL_SECONDS"])),
    ]
    if config.get("BOUNCE_MAILBOX_URL"):
        jobs.append(Job("bounce_mailbox", poll_job, float(config["BOUNCE_MAILBOX_POLL_SECONDS"])))
    return Schedule(
        tick=Job("tick", queue_due_mail, float(config["WORKER_POLL_SECONDS"])),
        jobs=tuple(jobs),
    )
