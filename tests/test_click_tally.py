"""Clicks on `/r/<token>` are added up in the process and written in batches: none is
lost between the answer and the write (a failed write keeps them, a normal stop writes
them), each (link, day) gets exactly the clicks it had, the totals the report reads
always equal the (link, day) rows, and the interval writes them by itself."""

from __future__ import annotations

import http.client
import random
import secrets
import signal
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import (
    Campaign,
    CampaignClickDay,
    CampaignLink,
    LinkClickDay,
    StaffUser,
    Topic,
)
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.campaign_insights import click_report
from consentapp.services.campaign_links import CampaignLinks, link_token
from consentapp.services.click_tally import ClickTally, add_clicks, tally
from tests.conftest import make_app
from tests.services import LiveApp, SMTPServer

URLS = ("https://example.be/een", "https://example.be/twee")


def _links(app: Flask) -> list[tuple[int, str]]:
    """A draft with two links in Dutch: their ids and `/r/` paths."""
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        staff = db.session.scalars(sa.select(StaffUser)).first()
        assert topic is not None
        body = "\n".join(f"- [{url}]({url})" for url in URLS)
        campaign = create_campaign(topic, "Nieuws", body, "News", body, staff)
        found = CampaignLinks(campaign)
        ids = [found.link("nl", url).id for url in URLS]
        db.session.commit()
        return [(link_id, f"/r/{link_token(link_id)}") for link_id in ids]


def _written(app: Flask) -> dict[tuple[int, date], int]:
    with app.app_context():
        rows = db.session.execute(sa.select(LinkClickDay)).scalars().all()
        return {(row.link_id, row.day): row.clicks for row in rows}


def _tally(app: Flask) -> ClickTally:
    with app.app_context():
        found = tally()
    assert found is not None
    return found


def _click(client: FlaskClient, path: str, times: int) -> None:
    for _ in range(times):
        assert client.get(path).status_code == 302


@pytest.fixture
def held_app(app: Flask) -> Flask:
    """The app with clicks held for an hour: only `flush()` writes them."""
    app.config["CLICK_FLUSH_SECONDS"] = 3600
    return app


def test_clicks_are_held_until_the_write_and_then_counted_exactly(
    held_app: Flask, client: FlaskClient
) -> None:
    (first, first_path), (second, second_path) = _links(held_app)
    _click(client, first_path, 3)
    _click(client, second_path, 1)
    held = _tally(held_app)
    assert held.held() == 4 and _written(held_app) == {}
    assert held.flush() == 4 and held.held() == 0
    [(_, day)] = {key for key in _written(held_app) if key[0] == first}
    assert _written(held_app) == {(first, day): 3, (second, day): 1}
    _click(client, first_path, 2)
    assert held.flush() == 2
    assert _written(held_app) == {(first, day): 5, (second, day): 1}  # added, not replaced
    assert held.flush() == 0


def test_a_failed_write_keeps_the_clicks_for_the_next(
    held_app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    [(link_id, path), _] = _links(held_app)
    _click(client, path, 2)
    held = _tally(held_app)
    with held_app.app_context():
        db.session.execute(sa.text("ALTER TABLE link_click_days RENAME TO link_clicks_away"))
        db.session.commit()
    assert held.flush() == 0
    assert held.held() == 2
    assert "Writing 1 link clicks failed" in caplog.text
    _click(client, path, 1)  # counted meanwhile
    with held_app.app_context():
        db.session.execute(sa.text("ALTER TABLE link_clicks_away RENAME TO link_click_days"))
        db.session.commit()
    assert held.flush() == 3
    assert [(key[0], clicks) for key, clicks in _written(held_app).items()] == [(link_id, 3)]


def test_each_day_keeps_its_own_clicks(held_app: Flask, client: FlaskClient) -> None:
    [(link_id, path), _] = _links(held_app)
    _click(client, path, 1)
    held = _tally(held_app)
    before, after = date(2026, 12, 31), date(2027, 1, 1)
    for day, times in ((before, 2), (after, 5), (before, 1)):
        for _ in range(times):
            held.add(link_id, day)
    assert held.flush() == 9
    written = _written(held_app)
    assert written[(link_id, before)] == 3 and written[(link_id, after)] == 5
    assert sum(written.values()) == 9


def _sums_of_the_day_rows(campaign_id: int) -> tuple[dict[int, int], dict[date, int]]:
    """Per link and per day, summed from `link_click_days` itself."""
    per_link: dict[int, int] = {}
    per_day: dict[date, int] = {}
    rows = db.session.execute(
        sa.select(LinkClickDay.link_id, LinkClickDay.day, LinkClickDay.clicks)
        .join(CampaignLink, CampaignLink.id == LinkClickDay.link_id)
        .where(CampaignLink.campaign_id == campaign_id)
    )
    for link_id, day, clicks in rows:
        per_link[link_id] = per_link.get(link_id, 0) + clicks
        per_day[day] = per_day.get(day, 0) + clicks
    return per_link, per_day


def test_the_totals_the_report_reads_equal_the_day_rows(held_app: Flask) -> None:
    """Random batches over two campaigns and a month of days: each link's total and
    each campaign's day equal the sums of the (link, day) rows, and so does the report."""
    links = [link_id for link_id, _ in _links(held_app) + _links(held_app)]
    chance = random.Random(16)
    first = date(2026, 11, 1)
    with held_app.app_context():
        for _ in range(12):
            batch: dict[tuple[int, date], int] = {}
            for _ in range(chance.randint(1, 30)):
                key = (chance.choice(links), first + timedelta(days=chance.randrange(30)))
                batch[key] = batch.get(key, 0) + chance.randint(1, 9)
            add_clicks(batch)
            db.session.commit()
        campaigns = db.session.scalars(sa.select(Campaign)).all()
        assert len(campaigns) == 2
        for campaign in campaigns:
            per_link, per_day = _sums_of_the_day_rows(campaign.id)
            totals = dict(
                db.session.execute(
                    sa.select(CampaignLink.id, CampaignLink.clicks).where(
                        CampaignLink.campaign_id == campaign.id
                    )
                ).all()
            )
            assert totals == {link_id: per_link.get(link_id, 0) for link_id in totals}
            kept_days = db.session.execute(
                sa.select(CampaignClickDay.day, CampaignClickDay.clicks).where(
                    CampaignClickDay.campaign_id == campaign.id
                )
            )
            assert dict(kept_days.all()) == per_day
            report = click_report(campaign)
            assert report.total.value == sum(per_day.values())
            assert report.days.keys() == per_day.keys()
            assert all(shown.value in (None, per_day[day]) for day, shown in report.days.items())


def test_clicks_on_a_link_gone_from_the_database_do_not_block_the_others(
    held_app: Flask, client: FlaskClient
) -> None:
    [(kept, kept_path), _] = _links(held_app)
    [(gone, gone_path), _] = _links(held_app)
    _click(client, kept_path, 2)
    _click(client, gone_path, 3)
    with held_app.app_context():
        db.session.execute(sa.delete(CampaignLink).where(CampaignLink.id == gone))
        db.session.commit()
    held = _tally(held_app)
    assert held.flush() == 5 and held.held() == 0
    assert [(key[0], clicks) for key, clicks in _written(held_app).items()] == [(kept, 2)]


def test_clicks_answered_by_many_threads_are_all_counted(
    held_app: Flask, client: FlaskClient
) -> None:
    links = _links(held_app)
    failures: list[BaseException] = []

    def visitor(path: str) -> Callable[[], None]:
        def run() -> None:
            try:
                _click(held_app.test_client(), path, 40)
            except BaseException as error:  # reported by the test
                failures.append(error)

        return run

    threads = [threading.Thread(target=visitor(links[n % 2][1])) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert _tally(held_app).flush() == 240
    by_link = {link_id: 0 for link_id, _ in links}
    for (link_id, _), clicks in _written(held_app).items():
        by_link[link_id] += clicks
    assert list(by_link.values()) == [120, 120]


def test_the_interval_writes_the_clicks_by_itself(app: Flask, client: FlaskClient) -> None:
    app.config["CLICK_FLUSH_SECONDS"] = 0.2
    [(_, path), _] = _links(app)
    _click(client, path, 5)
    deadline = time.monotonic() + 20
    while sum(_written(app).values()) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(_written(app).values()) == [5]
    assert _tally(app).held() == 0


def test_without_an_interval_each_click_is_written_in_its_request(
    app: Flask, client: FlaskClient
) -> None:
    app.config["CLICK_FLUSH_SECONDS"] = 0
    [(_, path), _] = _links(app)
    _click(client, path, 2)
    assert list(_written(app).values()) == [2]
    with app.app_context():
        assert tally() is None


@pytest.mark.slow
def test_gunicorn_writes_what_it_holds_when_it_stops(
    smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """A real gunicorn holding clicks for an hour: its SIGTERM writes them all."""
    key = secrets.token_urlsafe(48)
    live = LiveApp(tmp_path, smtp_server.port, SECRET_KEY=key, CLICK_FLUSH_SECONDS="3600")
    live.start()
    try:
        local = make_app(live.database_url, smtp_server.port, tmp_path / "local", SECRET_KEY=key)
        [(_, path), _] = _links(local)
        for _ in range(7):
            connection = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
            try:
                connection.request("GET", path)
                assert connection.getresponse().status == 302
            finally:
                connection.close()
        assert _written(local) == {}  # held by the worker
        assert live.process is not None
        live.process.send_signal(signal.SIGTERM)
        live.process.wait(timeout=30)
        assert list(_written(local).values()) == [7], live.log()
    finally:
        live.stop()
