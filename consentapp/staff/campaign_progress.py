"""A campaign's progress for people: the figures and the sentences the campaign page
shows under its progress bar, and the same as JSON for the page's script
(`static/js/campaign-progress.js`), which refreshes them while the campaign is live.

Asking for the figures is not activity: a page left open keeps polling, but the
staff idle timeout still logs the person out (see `_keep_idle_clock`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import flask_babel
import sqlalchemy as sa
from flask import Response, g, jsonify, request, session
from flask_babel import format_datetime, format_decimal, format_time, get_timezone

from consentapp.extensions import db
from consentapp.labels import label, when
from consentapp.models import Campaign, CampaignStatus, utcnow
from consentapp.services import campaigns as campaign_service
from consentapp.services.campaign_progress import Progress, is_starting, progress
from consentapp.staff import SEEN_KEY, bp

# Flask-Babel's own, typed: they always give text.
gettext: Callable[..., str] = flask_babel.gettext
ngettext: Callable[..., str] = flask_babel.ngettext

# The reasons the product itself writes when it pauses a campaign.
_STAFF_PAUSE = "paused by staff"
_FAILURES_PAUSE = re.compile(r"(\d+) deliveries failed in a row; check the mail server")


@bp.context_processor
def progress_helpers() -> dict[str, Any]:
    """`campaign_progress(campaign)` in templates: the progress block's figures and texts."""
    return {"campaign_progress": progress_view}


@bp.app_template_test("queued_starting")
def queued_starting(campaign: Campaign) -> bool:
    """`campaign is queued_starting`: sent now, waiting for the sending pass."""
    return is_starting(campaign)


def pause_reason(reason: str | None) -> str:
    """Why a campaign is paused, in the page's language; staff's own words as written."""
    text = (reason or "").strip()
    if text == _STAFF_PAUSE:
        return gettext("paused by a staff member")
    failures = _FAILURES_PAUSE.fullmatch(text)
    if failures:
        return gettext(
            "%(count)s deliveries failed in a row; check the mail server",
            count=failures.group(1),
        )
    return text


def number(value: int) -> str:
    """A count as the page's language writes it (1.234 in Dutch)."""
    return str(format_decimal(value, "#,##0"))


def duration(start: datetime, end: datetime) -> str:
    """How long from `start` to `end`, in hours and minutes."""
    minutes = max(int((end - start).total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    if not hours and not minutes:
        return gettext("less than a minute")
    minutes_text = ngettext("%(num)s minute", "%(num)s minutes", minutes)
    if not hours:
        return minutes_text
    hours_text = ngettext("%(num)s hour", "%(num)s hours", hours)
    if not minutes:
        return hours_text
    return gettext("%(hours)s and %(minutes)s", hours=hours_text, minutes=minutes_text)


def clock(moment: datetime, now: datetime) -> str:
    """A moment as a local time of day; with its date when that is not today."""
    zone = get_timezone()
    if moment.astimezone(zone).date() == now.astimezone(zone).date():
        return str(format_time(moment, "short"))
    return str(format_datetime(moment, "short"))


def status_text(campaign: Campaign, figures: Progress) -> str:
    """The status as the badge names it."""
    return gettext("queued, starting") if figures.starting else label(campaign.status)


def _state(campaign: Campaign, figures: Progress) -> str:
    """One sentence on where the campaign stands."""
    status = figures.status
    if figures.starting:
        return gettext("Queued: sending starts in a moment.")
    if status == CampaignStatus.SCHEDULED:
        return ngettext(
            "Not started yet. As things stand it goes to %(count)s subscriber.",
            "Not started yet. As things stand it goes to %(count)s subscribers.",
            figures.total,
            count=number(figures.total),
        )
    if status == CampaignStatus.PAUSED and campaign.pause_reason == _STAFF_PAUSE:
        return gettext("Paused by a staff member. Nothing goes out until it is resumed.")
    if status == CampaignStatus.PAUSED:
        return gettext(
            "Paused: %(reason)s. Nothing goes out until it is resumed.",
            reason=pause_reason(campaign.pause_reason),
        )
    if status == CampaignStatus.SENT and figures.finished_at and figures.started_at:
        return gettext(
            "Finished at %(time)s, after %(duration)s.",
            time=when(figures.finished_at),
            duration=duration(figures.started_at, figures.finished_at),
        )
    if status == CampaignStatus.CANCELLED:
        return gettext("Cancelled at %(time)s.", time=when(figures.finished_at))
    return ""  # sending: the badge says so, the figures say the rest


def texts(
    campaign: Campaign, figures: Progress, unsubscribes: int, now: datetime
) -> dict[str, str]:
    """Every sentence of the progress block, in the page's language; empty when it
    does not apply."""
    begun = figures.started_at is not None or figures.finished > 0
    return {
        "status": status_text(campaign, figures),
        "state": _state(campaign, figures),
        "summary": gettext(
            "%(sent)s of %(total)s sent (%(percent)s\u00a0%%)",
            sent=number(figures.sent),
            total=number(figures.total),
            percent=number(figures.sent_percent),
        )
        if begun or figures.starting
        else "",
        **_pace(figures, now),
        "queueing": gettext(
            "Still being queued: until everyone is queued, the total is the number "
            "of subscribers as it stands."
        )
        if figures.queueing and begun
        else "",
        **(_details(figures, unsubscribes) if begun else dict.fromkeys(_DETAILS, "")),
    }


def _pace(figures: Progress, now: datetime) -> dict[str, str]:
    """Start time, rate (while sending) and expected end."""
    rate = figures.rate
    return {
        "started": gettext("Started at %(time)s", time=clock(figures.started_at, now))
        if figures.started_at
        else "",
        "rate": _rate_text(rate)
        if rate is not None and figures.status == CampaignStatus.SENDING
        else "",
        "expected": gettext("expected around %(time)s", time=clock(figures.expected_end, now))
        if figures.expected_end
        else "",
    }


def _rate_text(rate: float) -> str:
    """ "120 mails per minute"; the singular only for exactly one; below 0.1 as such."""
    if rate < 0.1:
        return gettext("less than 0.1 mail per minute")
    shown = str(format_decimal(rate, "#,##0" if rate >= 10 else "#,##0.#"))
    count = 1 if shown == str(format_decimal(1)) else 2
    return ngettext("%(rate)s mail per minute", "%(rate)s mails per minute", count, rate=shown)


_DETAILS = ("failed", "not_sent", "unsubscribes")


def _details(figures: Progress, unsubscribes: int) -> dict[str, str]:
    """The smaller figures under the bar."""
    return {
        "failed": gettext("%(count)s failed", count=number(figures.failed)),
        "not_sent": gettext(
            "%(count)s not sent (consent withdrawn or cancelled)", count=number(figures.not_sent)
        ),
        "unsubscribes": gettext(
            "%(count)s unsubscribed from this newsletter", count=number(unsubscribes)
        ),
    }


def progress_view(campaign: Campaign, now: datetime | None = None) -> dict[str, Any]:
    """What the page's progress block and its JSON show: figures and sentences."""
    now = now or utcnow()
    figures = progress(campaign, now)
    begun = figures.started_at is not None or figures.finished > 0
    unsubscribes = campaign_service.unsubscribes_from(campaign) if begun else 0
    return {
        "figures": figures,
        "unsubscribes": unsubscribes,
        "texts": texts(campaign, figures, unsubscribes, now),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@bp.get("/campaigns/<public_id>/progress")
def campaign_progress(public_id: str) -> Response:
    """The progress figures and their sentences as JSON, for the page's script."""
    _keep_idle_clock()
    found: Campaign = db.one_or_404(sa.select(Campaign).where(Campaign.public_id == public_id))
    return jsonify(_as_json(progress_view(found)))


def _as_json(view: dict[str, Any]) -> dict[str, Any]:
    figures: Progress = view["figures"]
    return {
        "status": str(figures.status),
        "starting": figures.starting,
        "queueing": figures.queueing,
        "live": figures.live,
        "total": figures.total,
        "sent": figures.sent,
        "failed": figures.failed,
        "not_sent": figures.not_sent,
        "remaining": figures.remaining,
        "percent": figures.percent,
        "unsubscribes": view["unsubscribes"],
        "started_at": _iso(figures.started_at),
        "rate": figures.rate,
        "expected_end": _iso(figures.expected_end),
        "finished_at": _iso(figures.finished_at),
        "texts": view["texts"],
    }


@bp.before_app_request
def _note_idle_clock() -> None:
    """Before the staff checks mark this request as activity, remember when the last
    real activity was (app-wide hooks run before the blueprint's)."""
    if request.endpoint == "staff.campaign_progress":
        g.staff_seen_before = session.get(SEEN_KEY)


def _keep_idle_clock() -> None:
    """Polling is not activity: put back the time of the last real request."""
    seen = g.get("staff_seen_before")
    if isinstance(seen, (int, float)):
        session[SEEN_KEY] = seen
