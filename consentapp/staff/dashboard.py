"""The staff home page."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, render_template
from flask_babel import format_decimal

from consentapp.services.bounces_admin import complaints_too_high
from consentapp.services.dashboard import open_requests_summary, snapshot_numbers
from consentapp.services.small_counts import breakdown, figure
from consentapp.services.unsubscribe_feedback import monthly_answers, never_asked
from consentapp.staff import bp
from consentapp.staff.charts import week_label, weekly_charts


@bp.app_template_filter("number")
def number(value: int) -> str:
    """A count as the page's language writes it: 1.234 in Dutch, 1,234 in English."""
    return str(format_decimal(value))


@bp.get("/")
def home() -> str:
    """Counts, the weekly consent charts and the complaint warning, as the background
    job last computed them; "never asked for it" answers and the answers given without
    a campaign, counted live (few rows)."""
    max_age = timedelta(seconds=current_app.config["DASHBOARD_MAX_AGE_SECONDS"])
    numbers, computed_at = snapshot_numbers(max_age)
    limit = current_app.config["BOUNCE_COMPLAINT_WARN_PERCENT"]
    return render_template(
        "staff/home.html",
        requests=open_requests_summary(),
        numbers=numbers,
        computed_at=computed_at,
        charts=weekly_charts(numbers.weeks),
        week_labels=[week_label(week) for week in numbers.weeks],
        complaint_limit=limit,
        complaints_too_high=complaints_too_high(numbers.bounces, limit),
        never_asked=[(flag, figure(flag.count)) for flag in never_asked()],
        feedback={month: breakdown(counts) for month, counts in monthly_answers().items()},
    )
