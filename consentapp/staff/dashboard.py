"""The staff home page."""

from __future__ import annotations

from flask import render_template

from consentapp.services.dashboard import dashboard_numbers
from consentapp.staff import bp
from consentapp.staff.charts import weekly_chart


@bp.get("/")
def home() -> str:
    """Counts and the subscriptions chart."""
    numbers = dashboard_numbers()
    return render_template("staff/home.html", numbers=numbers, chart=weekly_chart(numbers.weeks))
