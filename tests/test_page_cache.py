"""The notice and topics a process keeps (services.reference) and the pages it renders
once per language (page_cache): the same page as a fresh rendering, and a change seen."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask, request

from consentapp.extensions import csrf, db
from consentapp.models import Topic
from consentapp.page_cache import shared_page
from consentapp.services import reference
from consentapp.services.notices import publish_notice
from tests.helpers import is_check_mail_page, post_form

TOKEN = re.compile(r'name="csrf_token" type="hidden" value="[^"]+"')


def _home(app: Flask, lang: str = "nl") -> str:
    client = app.test_client()
    client.get(f"/?lang={lang}")  # remembered in the session; `?lang=` itself is not cached
    return client.get("/").get_data(as_text=True)


def test_a_cached_home_page_is_a_fresh_rendering_with_its_own_token(app: Flask) -> None:
    for lang in ("nl", "en"):
        first, second = _home(app, lang), _home(app, lang)
        assert TOKEN.search(first) and TOKEN.search(second)
        assert TOKEN.sub("", first) == TOKEN.sub("", second)
        assert TOKEN.findall(first) != TOKEN.findall(second), "each session its own token"
    app.config["PAGE_CACHE"] = False
    fresh = _home(app, "en")
    app.config["PAGE_CACHE"] = True
    assert TOKEN.sub("", fresh) == TOKEN.sub("", _home(app, "en"))


def test_the_token_of_a_cached_page_is_accepted(app: Flask) -> None:
    app.test_client().get("/subscribe")  # fills the cache
    answer = post_form(
        app.test_client(), "/subscribe", {"email": "cached@example.be", "topics": "service-news"}
    )
    assert is_check_mail_page(answer.status_code, answer.get_data(as_text=True))


def test_a_published_notice_shows_at_once(app: Flask) -> None:
    before = _home(app)
    assert "versie 1" in before
    with app.app_context():
        publish_notice(
            {"nl": ("Privacy", "# Privacy\n\nNieuw.\n"), "en": ("Privacy", "# Privacy\n\nNew.\n")}
        )
        db.session.commit()
    after = _home(app)
    assert "versie 2" in after and "versie 1" not in after


def test_a_topic_changed_behind_the_app_shows_when_the_cache_is_read_again(app: Flask) -> None:
    assert "Bedrijfsnieuws" in _home(app)
    with app.app_context(), db.engine.begin() as connection:  # as another process would
        connection.execute(
            sa.update(Topic).where(Topic.slug == "company-news").values(active=False)
        )
    assert "Bedrijfsnieuws" in _home(app), "kept for REFERENCE_CACHE_SECONDS"
    reference.forget(app)  # as the time running out does
    assert "Bedrijfsnieuws" not in _home(app)
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "company-news"))
        assert topic is not None
        topic.active = True
        db.session.commit()
    assert "Bedrijfsnieuws" in _home(app), "a change through the app shows at once"


def test_a_page_with_a_message_to_flash_is_not_taken_from_the_cache(app: Flask) -> None:
    client = app.test_client()
    _home(app)
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "Een bericht voor u")]
    assert "Een bericht voor u" in client.get("/").get_data(as_text=True)
    assert "Een bericht voor u" not in _home(app)


def test_a_page_rendered_for_one_method_is_not_served_for_another(app: Flask) -> None:
    def either() -> str:
        return shared_page(lambda: f"answer to {request.method}")

    app.add_url_rule("/either", "either", csrf.exempt(either), methods=["GET", "POST"])
    client = app.test_client()
    assert client.post("/either").get_data(as_text=True) == "answer to POST"
    assert client.get("/either").get_data(as_text=True) == "answer to GET"
    assert client.post("/either").get_data(as_text=True) == "answer to POST"
