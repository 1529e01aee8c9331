"""Campaign times: entered and shown in the company's time zone (`TIMEZONE`), stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.config import ConfigError, load_config
from consentapp.extensions import db
from consentapp.models import Campaign
from tests.builders import make_campaign
from tests.flows import staff_send


def test_unknown_time_zone_is_refused_at_startup() -> None:
    with pytest.raises(ConfigError, match="TIMEZONE 'Mars/Olympus'"):
        load_config("testing", {"TIMEZONE": "Mars/Olympus"})
    assert load_config("testing", {}).BABEL_DEFAULT_TIMEZONE == "Europe/Brussels"


def schedule(app: Flask, client: FlaskClient, at: str) -> tuple[int, str, str]:
    path = f"/staff/campaigns/{make_campaign(app)}"
    response = staff_send(client, path, at)
    return response.status_code, response.get_data(as_text=True), path


def test_schedule_field_is_labelled_with_the_zone_and_read_as_local_time(
    app: Flask, admin_client: FlaskClient
) -> None:
    status, _, path = schedule(app, admin_client, "2030-07-01T10:00")
    assert status == 302
    with app.app_context():
        found = db.session.scalar(sa.select(Campaign))
        assert found is not None and found.scheduled_at is not None
        stored = found.scheduled_at.replace(tzinfo=found.scheduled_at.tzinfo or UTC)
        assert stored == datetime(2030, 7, 1, 8, 0, tzinfo=UTC)  # summer: UTC+2
    page = admin_client.get(path, headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert "10:00" in page and "Europe/Brussels" in page


def test_label_names_the_zone(app: Flask, admin_client: FlaskClient) -> None:
    path = f"/staff/campaigns/{make_campaign(app)}"
    page = admin_client.get(path).get_data(as_text=True)
    assert '<label for="at">' in page
    assert "Europe/Brussels" in page


@pytest.mark.parametrize(
    ("at", "words"),
    [("2027-03-28T02:30", "bestaat niet"), ("2026-10-25T02:30", "komt twee keer voor")],
)
def test_daylight_saving_edges_get_a_clear_message(
    app: Flask, admin_client: FlaskClient, at: str, words: str
) -> None:
    status, html, _ = schedule(app, admin_client, at)
    assert status == 400
    assert words in html and "Europe/Brussels" in html
    with app.app_context():
        found = db.session.scalar(sa.select(Campaign))
        assert found is not None and found.status == "draft"
