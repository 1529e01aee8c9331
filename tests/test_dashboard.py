"""The staff dashboard's numbers, their kept snapshot and the weekly chart."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    utcnow,
)
from consentapp.services.dashboard import (
    WeekPoint,
    dashboard_numbers,
    refresh_snapshot,
    weekly_changes,
)
from consentapp.staff.charts import round_ticks, weekly_charts
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


def test_chart_has_twelve_weeks_on_round_ticks(app: Flask) -> None:
    with app.test_request_context():
        weeks = weekly_changes(utcnow())
        assert len(weeks) == 12
        assert weeks[-1].start <= utcnow() < weeks[-1].start + timedelta(weeks=1)
        confirmed, withdrawn = weekly_charts(weeks)
    assert [value for _, value in confirmed.ticks] == [0, 1]
    assert len(confirmed.bars) == len(withdrawn.bars) == 12


@pytest.mark.parametrize(
    ("highest", "ticks"),
    [
        (0, [0, 1]),
        (3, [0, 1, 2, 3]),
        (7, [0, 2, 4, 6, 8]),
        (13, [0, 5, 10, 15]),
        (2356, [0, 500, 1000, 1500, 2000, 2500]),
        (40_001, [0, 10_000, 20_000, 30_000, 40_000, 50_000]),
    ],
)
def test_axis_ticks_are_round_numbers(highest: int, ticks: list[int]) -> None:
    assert round_ticks(highest) == ticks


def test_a_few_withdrawals_stay_visible_next_to_thousands_of_confirmations(
    app: Flask, admin_client: FlaskClient
) -> None:
    with app.test_request_context():
        weeks = weekly_changes(utcnow())
        weeks[-1] = WeekPoint(weeks[-1].start, 4000, 3)
        confirmed, withdrawn = weekly_charts(weeks)
    assert confirmed.bars[-1].height > 100
    assert withdrawn.bars[-1].height > 0.5 * (withdrawn.baseline - 12), "on its own scale"
    assert [value for _, value in withdrawn.ticks] == [0, 1, 2, 3]


def test_every_card_links_to_its_list_and_no_developer_words(
    app: Flask, admin_client: FlaskClient
) -> None:
    html = admin_client.get("/staff/").get_data(as_text=True)
    cards = re.findall(r'<(a|div) class="stat(?: [^"]*)?"(?: href="([^"]*)")?', html)
    assert cards and all(tag == "a" and href for tag, href in cards), cards
    hrefs = [href.replace("&amp;", "&") for _, href in cards]
    assert "/staff/contacts?status=unsubscribed&days=30" in hrefs, "the card's 30 days"
    assert "/staff/inquiries?status=open" in hrefs
    assert "/staff/contacts?topic=service-news&status=confirmed" in hrefs
    for word in ("worker", "snapshot", "cron", "queue"):
        assert word not in re.sub(r"<[^>]+>", " ", html).lower(), word


def test_chart_text_is_in_the_page_language(app: Flask, admin_client: FlaskClient) -> None:
    with app.app_context():
        db.session.add(
            ConsentEvent(
                subject_id="x",
                purpose=ConsentPurpose.NEWSLETTER,
                action=ConsentAction.WITHDRAWN,
                channel=ConsentChannel.ONE_CLICK,
            )
        )
        db.session.commit()
    html = admin_client.get("/staff/").get_data(as_text=True)
    desc = re.search(r'<desc id="chart-withdrawn-desc">([^<]*)</desc>', html)
    assert desc and desc.group(1).startswith("week van "), desc
    assert desc.group(1).endswith(": 1")
    assert "Intrekkingen per week, op hun eigen schaal" in html
    assert '<th scope="col">Week van</th>' in html
    english = admin_client.get("/staff/?lang=en").get_data(as_text=True)
    desc_en = re.search(r'<desc id="chart-withdrawn-desc">([^<]*)</desc>', english)
    assert desc_en and desc_en.group(1).startswith("week of "), desc_en
    assert "withdrawn" not in (desc_en.group(1) + desc.group(1))
