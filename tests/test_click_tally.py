"""Clicks on `/r/<token>` are added up in the process and written in batches: none is
lost between the answer and the write (a failed write keeps them, a normal stop writes
them), each (link, day) gets exactly the clicks it had, and the interval writes them by
itself."""

from __future__ import annotations

import http.client
import secrets
import signal
import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import LinkClickDay, StaffUser, Topic
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.campaign_links import CampaignLinks, link_token
from consentapp.services.click_tally import ClickTally, tally
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
