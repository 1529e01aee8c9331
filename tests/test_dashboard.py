"""The staff dashboard's numbers, their kept snapshot and the weekly chart."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import Contact, utcnow
from consentapp.services.dashboard import dashboard_numbers, refresh_snapshot, weekly_changes
from consentapp.staff.charts import weekly_chart
from tests.builders import VALID
from tests.flows import confirm, confirmation_link, subscribe
from tests.helpers import post_form


def stat(html: str, label: str) -> int:
    match = re.search(r'class="number">(\d+)</span><span class="what">' + re.escape(label), html)
    assert match, label
    return int(match.group(1))


def test_numbers_follow_what_happens(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, smtp_server: object
) -> None:
    post_form(client, "/contact", VALID)
    subscribe(app.test_client(), "one@example.be", ("service-news",))
    subscribe(app.test_client(), "two@example.be", ("service-news", "company-news"))
    confirm(client, confirmation_link(app, smtp_server, "two@example.be"))  # type: ignore[arg-type]
    with app.app_context():
        numbers = dashboard_numbers()
    assert numbers.contacts == 3
    assert {item.topic.slug: item.confirmed for item in numbers.per_topic} == {
        "product-updates": 0,
        "service-news": 1,
        "company-news": 1,
    }
    assert numbers.pending == 1
    assert numbers.open_inquiries == 1
    assert numbers.weeks[-1].confirmed == 2
    html = admin_client.get("/staff/").get_data(as_text=True)
    assert stat(html, "contacten") == 3


def test_page_reads_the_kept_numbers(app: Flask, admin_client: FlaskClient) -> None:
    app.config["DASHBOARD_MAX_AGE_SECONDS"] = 3600
    with app.app_context():
        refresh_snapshot()
        db.session.add(Contact(email="late@example.be", source_channel="web_form"))
        db.session.commit()
    assert stat(admin_client.get("/staff/").get_data(as_text=True), "contacten") == 0
    with app.app_context():
        refresh_snapshot()
    assert stat(admin_client.get("/staff/").get_data(as_text=True), "contacten") == 1


def test_old_kept_numbers_are_recounted_on_the_page(app: Flask, admin_client: FlaskClient) -> None:
    app.config["DASHBOARD_MAX_AGE_SECONDS"] = 60
    with app.app_context():
        refresh_snapshot()
        db.session.execute(
            sa.text("UPDATE dashboard_snapshots SET computed_at = :old"),
            {"old": (utcnow() - timedelta(minutes=5)).replace(tzinfo=None)},
        )
        db.session.add(Contact(email="late@example.be", source_channel="web_form"))
        db.session.commit()
    assert stat(admin_client.get("/staff/").get_data(as_text=True), "contacten") == 1


def test_chart_has_twelve_weeks_and_whole_number_ticks(app: Flask) -> None:
    with app.app_context():
        weeks = weekly_changes(utcnow())
    assert len(weeks) == 12
    assert weeks[-1].start <= utcnow() < weeks[-1].start + timedelta(weeks=1)
    chart = weekly_chart(weeks)
    assert [value for _, value in chart.ticks] == [0, 1, 2, 3, 4]
    assert len(chart.bars) == 24
