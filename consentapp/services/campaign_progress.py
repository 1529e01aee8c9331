"""How far a campaign is: the figures behind its progress bar, from its outbox rows.

What the bar counts (`total`): a campaign is queued in batches
(`consentapp/services/campaign_sending.py`), so until the last batch is queued the
number of recipients is not known. Until then the total is what is queued so far plus
the subscribers still to be queued by the same rule as `queue_batch` (confirmed
subscribers of the topic with an address that takes mail, after the queue cursor):
before sending starts that is the audience size. Once everything is queued, or the
campaign is sent or cancelled, the total is `recipients`, the mails really queued.

Finished mails are the sent, the failed and those not sent (consent withdrawn before
delivery, or the campaign cancelled); the rest of the total is remaining. The rate
counts finished mails per minute since the start, until the end once the campaign is
finished (time spent paused included); while sending it is measured over the mails of
the last ten minutes, so a pause before them does not slow it down. The expected end
follows from it, only while the campaign is sending and no more than a month away.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    Campaign,
    CampaignStatus,
    Contact,
    OutboundEmail,
    OutboundStatus,
    utcnow,
)
from consentapp.services.campaign_audience import still_to_queue

# The rate while sending is measured over the mails of the last minutes.
RATE_WINDOW = timedelta(minutes=10)
MAX_EXPECTED = 60 * 24 * 30  # minutes: no expected end further than a month away

# Statuses in which the figures still change: the page refreshes them.
LIVE_STATUSES = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED)
# Statuses whose outbox rows are known in full.
_CLOSED_STATUSES = (CampaignStatus.SENT, CampaignStatus.CANCELLED)


@dataclass(frozen=True)
class Progress:
    """A campaign's progress at one moment (`now`)."""

    status: CampaignStatus
    total: int
    sent: int
    failed: int
    not_sent: int
    remaining: int
    percent: int  # whole number, 0-100, of the total that is finished
    started_at: datetime | None
    rate: float | None  # finished mails per minute since the start
    expected_end: datetime | None
    finished_at: datetime | None
    # Scheduled for a moment already past: waiting for the sending pass to start it.
    starting: bool
    # Still being queued: `total` counts the subscribers not queued yet too.
    queueing: bool

    @property
    def sent_percent(self) -> int:
        """Whole percent of the total that is sent (what the summary sentence says)."""
        if not self.total:
            return self.percent
        return self.sent * 100 // self.total

    @property
    def finished(self) -> int:
        """Mails dealt with: sent, failed or not sent."""
        return self.sent + self.failed + self.not_sent

    @property
    def live(self) -> bool:
        """The figures still change (scheduled, sending or paused)."""
        return self.status in LIVE_STATUSES


def progress(campaign: Campaign, now: datetime | None = None) -> Progress:
    """The figures of `campaign` at `now` (default: the current time)."""
    now = now or utcnow()
    counts = _outbox_counts(campaign)
    sent = counts.get(OutboundStatus.SENT, 0)
    failed = counts.get(OutboundStatus.FAILED, 0)
    not_sent = counts.get(OutboundStatus.CANCELLED, 0)
    finished = sent + failed + not_sent
    queueing = not campaign.queued_all and campaign.status not in _CLOSED_STATUSES
    total = campaign.recipients + (_not_yet_queued(campaign) if queueing else 0)
    total = max(total, finished)
    remaining = total - finished
    rate = _rate(finished, campaign.started_at, campaign.finished_at or now)
    if campaign.status == CampaignStatus.SENDING:
        rate = _recent_rate(campaign, now) or rate
    expected_end = None
    if campaign.status == CampaignStatus.SENDING and rate and remaining:
        minutes = remaining / rate
        # Beyond a month the guess says nothing (and far enough overflows a date).
        expected_end = now + timedelta(minutes=minutes) if minutes <= MAX_EXPECTED else None
    return Progress(
        status=campaign.status,
        total=total,
        sent=sent,
        failed=failed,
        not_sent=not_sent,
        remaining=remaining,
        percent=_percent(finished, total, campaign.status),
        started_at=campaign.started_at,
        rate=rate,
        expected_end=expected_end,
        finished_at=campaign.finished_at,
        starting=is_starting(campaign, now),
        queueing=queueing,
    )


def is_starting(campaign: Campaign, now: datetime | None = None) -> bool:
    """Sent now, or its time has come: scheduled, waiting for the sending pass."""
    return campaign.status == CampaignStatus.SCHEDULED and (
        campaign.scheduled_at is None or campaign.scheduled_at <= (now or utcnow())
    )


def _outbox_counts(campaign: Campaign) -> dict[str, int]:
    rows = db.session.execute(
        sa.select(OutboundEmail.status, sa.func.count())
        .where(OutboundEmail.campaign_id == campaign.id)
        .group_by(OutboundEmail.status)
    ).all()
    return {str(status): int(count) for status, count in rows}


def _not_yet_queued(campaign: Campaign) -> int:
    """People the next batches would queue (the rule of `queue_batch`)."""
    return int(
        db.session.scalar(sa.select(sa.func.count(Contact.id)).where(*still_to_queue(campaign)))
        or 0
    )


def _percent(finished: int, total: int, status: CampaignStatus) -> int:
    """Whole percent of the total that is finished; a sent campaign without recipients
    is done."""
    if not total:
        return 100 if status == CampaignStatus.SENT else 0
    return finished * 100 // total


def _recent_rate(campaign: Campaign, now: datetime) -> float | None:
    """Mails sent per minute over the last minutes of sending: a pause before them does
    not slow the figure down. None with too little to measure."""
    count, first = db.session.execute(
        sa.select(sa.func.count(OutboundEmail.id), sa.func.min(OutboundEmail.sent_at)).where(
            OutboundEmail.campaign_id == campaign.id,
            OutboundEmail.status == OutboundStatus.SENT,
            OutboundEmail.sent_at >= now - RATE_WINDOW,
            OutboundEmail.sent_at <= now,
        )
    ).one()
    if count < 2 or first is None:
        return None
    minutes = (now - _aware(first)).total_seconds() / 60
    return int(count) / minutes if minutes >= 0.1 else None


def _aware(moment: datetime) -> datetime:
    """SQLite gives stored UTC times back without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _rate(finished: int, started_at: datetime | None, until: datetime) -> float | None:
    """Finished mails per minute from `started_at` to `until`; None without one."""
    if started_at is None or finished == 0:
        return None
    minutes = (until - started_at).total_seconds() / 60
    if minutes <= 0:
        return None
    return finished / minutes
