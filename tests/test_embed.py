"""The form on the company's own site: posts from `EMBED_ORIGINS` without our cookie or
CSRF token, redirects only to listed origins, the JSON endpoint with CORS, and ALTCHA."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from altcha import v1 as altcha
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.config import ConfigError, TestingConfig
from consentapp.extensions import db
from consentapp.models import ConsentAction, ConsentEvent, Setting
from consentapp.seed import seed_notice, seed_topics
from consentapp.services.embed import ALTCHA_SETTING
from tests.builders import ADDRESS
from tests.conftest import make_app
from tests.flows import confirm, confirmation_link, confirmation_link_en
from tests.helpers import audited, is_check_mail_page, ledger, post_form, stored
from tests.services import SMTPServer

SITE = "https://www.crm.be"
OTHER = "https://evil.example"
FIELDS = {"email": ADDRESS, "name": "Lies", "topics": "product-updates", "language": "nl"}


@pytest.fixture
def embed_app(app: Flask) -> Flask:
    """The app with the company's site listed (written oddly: normalised on reading)."""
    app.config["EMBED_ORIGINS"] = ["HTTPS://www.crm.be:443/", "http://localhost:8081"]
    app.config["SUBSCRIBE_RATE_LIMIT"] = "100 per minute"
    return app


def cross_post(
    client: FlaskClient, path: str, data: dict[str, Any], **headers: str
) -> TestResponse:
    """A POST as another site's page sends it: no cookie of ours, no CSRF token."""
    return client.post(path, data=data, headers=headers)


def post_json(client: FlaskClient, body: Any, origin: str | None = SITE, **kw: Any) -> TestResponse:
    headers = {"Origin": origin} if origin else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    kw.setdefault("content_type", "application/json")
    return client.post("/api/embed/subscribe", data=data, headers=headers, **kw)


def switch_altcha(app: Flask, on: bool) -> None:
    with app.app_context():
        db.session.merge(Setting(key=ALTCHA_SETTING, value="1" if on else "0"))
        db.session.commit()


def solved_payload(client: FlaskClient) -> str:
    """Fetch a challenge and solve it as the widget does in the browser."""
    response = client.get("/api/embed/altcha", headers={"Origin": SITE})
    assert response.status_code == 200, response.get_data(as_text=True)
    challenge = response.get_json()
    solution = altcha.solve_challenge(
        challenge["challenge"], challenge["salt"], max_number=challenge["maxNumber"]
    )
    assert solution is not None
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": solution.number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


# --- the HTML form posted from the company's site -----------------------------------


def test_listed_origin_subscribes_without_token_through_double_opt_in(
    embed_app: Flask, smtp_server: SMTPServer
) -> None:
    client = embed_app.test_client(use_cookies=False)
    response = cross_post(client, "/subscribe", FIELDS, Origin=SITE)
    assert is_check_mail_page(response.status_code, response.get_data(as_text=True))
    assert stored(embed_app, ADDRESS) is not None
    path = confirmation_link(embed_app, smtp_server)
    assert confirm(embed_app.test_client(), path) == 200
    actions = [(action, topic) for action, _channel, topic in ledger(embed_app)]
    assert actions[-1] == (ConsentAction.CONFIRMED, "product-updates"), actions


def test_unlisted_origin_or_none_is_refused_as_before(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    for headers in ({"Origin": OTHER}, {"Origin": "null"}, {}, {"Referer": OTHER + "/form"}):
        response = cross_post(client, "/subscribe", FIELDS, **headers)
        assert response.status_code == 400, headers
        assert stored(embed_app, ADDRESS) is None, headers
    # A listed site's name inside another host proves nothing.
    response = cross_post(client, "/subscribe", FIELDS, Origin="https://www.crm.be.evil.example")
    assert response.status_code == 400


def test_referer_counts_only_when_origin_is_absent(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    refused = cross_post(client, "/subscribe", FIELDS, Origin=OTHER, Referer=SITE + "/nieuwsbrief")
    assert refused.status_code == 400
    assert stored(embed_app, ADDRESS) is None
    taken = cross_post(client, "/subscribe", FIELDS, Referer=SITE + "/nieuwsbrief?x=1")
    assert is_check_mail_page(taken.status_code, taken.get_data(as_text=True))
    assert stored(embed_app, ADDRESS) is not None


def test_our_own_form_still_works_and_still_needs_its_token(embed_app: Flask) -> None:
    client = embed_app.test_client()
    response = post_form(client, "/subscribe", dict(FIELDS))
    assert is_check_mail_page(response.status_code, response.get_data(as_text=True))
    no_token = client.post("/subscribe", data=FIELDS)
    assert no_token.status_code == 400


def test_redirect_after_success_and_failure_only_to_listed_origins(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    good = {**FIELDS, "success_url": SITE + "/bedankt?bron=form", "failure_url": SITE + "/fout"}
    response = cross_post(client, "/subscribe", good, Origin=SITE)
    assert response.status_code == 303
    assert response.headers["Location"] == SITE + "/bedankt?bron=form"

    failed = cross_post(client, "/subscribe", {**good, "email": "not an address"}, Origin=SITE)
    assert failed.status_code == 303
    assert failed.headers["Location"] == SITE + "/fout"

    for target in (
        OTHER + "/x",
        "//evil.example/x",
        "/relative",
        "javascript:alert(1)",
        "https://www.crm.be@evil.example/",
        "https://www.crm.be.evil.example/",
    ):
        answer = cross_post(client, "/subscribe", {**FIELDS, "success_url": target}, Origin=SITE)
        assert answer.status_code == 200, target
        assert "Location" not in answer.headers, target


def test_redirect_target_is_rebuilt_so_tricks_stay_on_the_listed_site(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    tricky = {**FIELDS, "success_url": "https://evil.example\\@www.crm.be/ok"}
    response = cross_post(client, "/subscribe", tricky, Origin=SITE)
    # Browsers read the backslash as a slash: the target is rebuilt from the listed origin.
    assert response.status_code == 303
    assert response.headers["Location"] == SITE + "/ok"


def test_redirect_fields_are_ignored_on_our_own_pages(embed_app: Flask) -> None:
    client = embed_app.test_client()
    response = post_form(client, "/subscribe", {**FIELDS, "success_url": SITE + "/bedankt"})
    assert response.status_code == 200


def test_bot_trap_answers_the_same_and_keeps_nothing(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    bot = {**FIELDS, "website": "http://spam.example", "success_url": SITE + "/bedankt"}
    response = cross_post(client, "/subscribe", bot, Origin=SITE)
    assert response.status_code == 303
    assert response.headers["Location"] == SITE + "/bedankt"
    assert stored(embed_app, ADDRESS) is None


def test_rate_limit_applies_to_posts_from_the_site(embed_app: Flask) -> None:
    embed_app.config["SUBSCRIBE_RATE_LIMIT"] = "2 per minute"
    client = embed_app.test_client(use_cookies=False)
    answers = [cross_post(client, "/subscribe", FIELDS, Origin=SITE).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert post_json(client, JSON_FIELDS).status_code == 202
    assert post_json(client, JSON_FIELDS).status_code == 202
    limited = post_json(client, JSON_FIELDS)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0


def test_contact_form_from_listed_origin(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    form = {"name": "Lies", "email": ADDRESS, "message": "Graag een offerte."}
    response = cross_post(client, "/contact", form, Origin=SITE)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/contact/thanks")
    with_target = cross_post(
        client, "/contact", {**form, "success_url": SITE + "/dank"}, Origin="http://localhost:8081"
    )
    # Posted from one listed origin, back to another listed one.
    assert with_target.status_code == 303
    assert with_target.headers["Location"] == SITE + "/dank"
    refused = cross_post(client, "/contact", form, Origin=OTHER)
    assert refused.status_code == 400


# --- the JSON endpoint --------------------------------------------------------------

JSON_FIELDS = {"email": ADDRESS, "name": "Lies", "topics": ["product-updates"], "language": "en"}


def test_json_subscribe_goes_through_double_opt_in(
    embed_app: Flask, smtp_server: SMTPServer
) -> None:
    client = embed_app.test_client(use_cookies=False)
    response = post_json(client, JSON_FIELDS)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response.headers["Vary"]
    assert stored(embed_app, ADDRESS) is not None
    path = confirmation_link_en(embed_app, smtp_server, ADDRESS)
    assert confirm(embed_app.test_client(), path) == 200
    actions = [(action, topic) for action, _channel, topic in ledger(embed_app)]
    assert actions[-1] == (ConsentAction.CONFIRMED, "product-updates"), actions


def test_json_same_answer_for_known_and_unknown(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    first = post_json(client, JSON_FIELDS)
    again = post_json(client, JSON_FIELDS)
    unknown = post_json(client, {**JSON_FIELDS, "email": "nobody@example.be"})
    assert first.status_code == again.status_code == unknown.status_code == 202
    assert first.get_data() == again.get_data() == unknown.get_data()


def test_json_cors_only_for_listed_origins(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    preflight = client.options(
        "/api/embed/subscribe",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == SITE
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Origin" in preflight.headers["Vary"]

    for origin in (OTHER, "null", "https://www.crm.be.evil.example"):
        other = client.options("/api/embed/subscribe", headers={"Origin": origin})
        assert "Access-Control-Allow-Origin" not in other.headers, origin
        assert "Origin" in other.headers["Vary"]
        refused = post_json(client, JSON_FIELDS, origin=origin)
        assert refused.status_code == 403, origin
        assert refused.mimetype == "application/problem+json"
        assert "Access-Control-Allow-Origin" not in refused.headers
    assert post_json(client, JSON_FIELDS, origin=None).status_code == 403
    assert stored(embed_app, ADDRESS) is None


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"email": "a@b.be"}', "text/plain", 415),
        ("email=a@b.be", "application/x-www-form-urlencoded", 415),
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('"text"', "application/json", 400),
        ('{"email": ["x"]}', "application/json", 422),
        ('{"email": "a@b.be", "topics": "product-updates"}', "application/json", 422),
        ('{"email": "a@b.be", "topics": [1]}', "application/json", 422),
        ('{"email": "a@b.be", "topics": ["nope"]}', "application/json", 422),
        ('{"email": "not an address", "topics": ["product-updates"]}', "application/json", 422),
        ('{"topics": ["product-updates"]}', "application/json", 422),
        (
            '{"email": "a@b.be", "topics": ["product-updates"], "language": "xx"}',
            "application/json",
            422,
        ),
    ],
)
def test_json_bad_bodies(embed_app: Flask, body: str, content_type: str, status: int) -> None:
    client = embed_app.test_client(use_cookies=False)
    response = post_json(client, body, content_type=content_type)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["Access-Control-Allow-Origin"] == SITE  # the script can read why
    if status == 422:
        assert response.get_json()["errors"]
    assert stored(embed_app, "a@b.be") is None


def test_json_errors_name_the_fields(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    response = post_json(client, {"email": "nope", "topics": []})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) >= {"email", "topics"}


def test_json_bot_trap(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    response = post_json(client, {**JSON_FIELDS, "website": "spam"})
    assert response.status_code == 202
    assert stored(embed_app, ADDRESS) is None


# --- ALTCHA ---------------------------------------------------------------------


def test_altcha_off_by_default(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    assert client.get("/api/embed/altcha").status_code == 404
    assert post_json(client, JSON_FIELDS).status_code == 202


def test_altcha_on_needs_a_solved_challenge(embed_app: Flask) -> None:
    switch_altcha(embed_app, True)
    client = embed_app.test_client(use_cookies=False)
    missing = post_json(client, JSON_FIELDS)
    assert missing.status_code == 422
    assert "altcha" in missing.get_json()["errors"]
    forged = post_json(client, {**JSON_FIELDS, "altcha": "eyJudW1iZXIiOjF9"})
    assert forged.status_code == 422
    assert stored(embed_app, ADDRESS) is None

    challenge = client.get("/api/embed/altcha", headers={"Origin": SITE})
    assert challenge.headers["Access-Control-Allow-Origin"] == SITE
    assert challenge.headers["Cache-Control"] == "no-store"
    payload = solved_payload(client)
    solved = post_json(client, {**JSON_FIELDS, "altcha": payload})
    assert solved.status_code == 202, solved.get_data(as_text=True)
    assert stored(embed_app, ADDRESS) is not None
    replayed = post_json(client, {**JSON_FIELDS, "email": "again@example.be", "altcha": payload})
    assert replayed.status_code == 422  # a solution counts once
    assert stored(embed_app, "again@example.be") is None


def test_altcha_on_applies_to_html_posts_from_the_site_not_to_our_pages(
    embed_app: Flask,
) -> None:
    switch_altcha(embed_app, True)
    client = embed_app.test_client(use_cookies=False)
    refused = cross_post(client, "/subscribe", FIELDS, Origin=SITE)
    assert refused.status_code == 400
    taken = cross_post(
        client, "/subscribe", {**FIELDS, "altcha": solved_payload(client)}, Origin=SITE
    )
    assert is_check_mail_page(taken.status_code, taken.get_data(as_text=True))
    own = post_form(embed_app.test_client(), "/subscribe", {**FIELDS, "email": "own@example.be"})
    assert is_check_mail_page(own.status_code, own.get_data(as_text=True))


# --- the staff page and the setting -------------------------------------------------


def test_staff_page_shows_the_snippet_in_both_languages(
    embed_app: Flask, staff_client: FlaskClient
) -> None:
    page = staff_client.get("/staff/embed?topics=service-news")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("&lt;form method=&#34;post&#34;") == 2 or html.count("&lt;form") == 2
    assert "subscribe?lang=nl" in html and "subscribe?lang=en" in html
    assert "E-mailadres" in html and "E-mail address" in html
    assert "value=&#34;service-news&#34;" in html or "value=&#34;service-news&#34;" in html
    assert "value=&#34;product-updates&#34;" not in html  # only the topic chosen
    assert "name=&#34;website&#34;" in html  # the bot trap comes along
    assert "https://www.crm.be/" in html  # redirects back to the listed site
    assert "altcha-widget" not in html


def test_snippet_posts_as_pasted(embed_app: Flask, staff_client: FlaskClient) -> None:
    """The snippet's own fields, posted from the listed site, are taken."""
    import html as html_lib
    import re

    page = html_lib.unescape(staff_client.get("/staff/embed").get_data(as_text=True))
    snippet = page.split('<pre class="snippet"><code>')[1].split("</code>")[0]
    names = set(re.findall(r'name="([a-z_]+)"', snippet))
    assert names == {"email", "name", "topics", "language", "success_url", "failure_url", "website"}
    client = embed_app.test_client(use_cookies=False)
    response = cross_post(
        client,
        "/subscribe",
        {**FIELDS, "website": "", "success_url": SITE + "/", "failure_url": SITE + "/"},
        Origin=SITE,
    )
    assert response.status_code == 303
    assert stored(embed_app, ADDRESS) is not None


def test_altcha_switched_on_in_settings_adds_the_widget(
    embed_app: Flask, admin_client: FlaskClient
) -> None:
    response = post_form(admin_client, "/staff/settings", {"require_altcha": "y"})
    assert response.status_code == 302
    with embed_app.app_context():
        setting = db.session.get(Setting, ALTCHA_SETTING)
        assert setting is not None and setting.value == "1"
    html = admin_client.get("/staff/embed").get_data(as_text=True)
    assert html.count("altcha-widget challengeurl") == 2
    assert "/static/vendor/altcha/altcha.min.js" in html
    widget = embed_app.test_client().get("/static/vendor/altcha/altcha.min.js")
    assert widget.status_code == 200
    widget.close()
    assert len(audited(embed_app, "settings.change")) == 2  # both settings, first save
    post_form(admin_client, "/staff/settings", {"require_altcha": "y"})
    assert len(audited(embed_app, "settings.change")) == 3  # an unchanged switch: no entry


def test_the_page_is_listed_when_no_origin_is_set(app: Flask, staff_client: FlaskClient) -> None:
    html = staff_client.get("/staff/embed").get_data(as_text=True)
    assert "EMBED_ORIGINS" in html
    assert "success_url" not in html


# --- configuration ----------------------------------------------------------------


def test_embed_origins_read_from_the_environment() -> None:
    config = TestingConfig({"EMBED_ORIGINS": "https://www.crm.be, http://localhost:8081 ,"})
    assert config.EMBED_ORIGINS == ["https://www.crm.be", "http://localhost:8081"]
    assert TestingConfig({}).EMBED_ORIGINS == []


@pytest.mark.parametrize(
    "entry", ["www.crm.be", "https://www.crm.be/nieuwsbrief", "ftp://www.crm.be", "*"]
)
def test_an_entry_that_is_no_origin_stops_the_app(
    entry: str, database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="EMBED_ORIGINS"):
        make_app(database_url, smtp_server.port, tmp_path / "i", EMBED_ORIGINS=[entry])


def test_altcha_without_rate_limiting_still_answers(
    database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """No limiter storage to remember solutions in: a solved challenge is still taken."""
    app = make_app(
        database_url,
        smtp_server.port,
        tmp_path / "i",
        EMBED_ORIGINS=[SITE],
        RATELIMIT_ENABLED=False,
    )
    try:
        with app.app_context():
            seed_topics()
            seed_notice()
            db.session.commit()
        switch_altcha(app, True)
        client = app.test_client(use_cookies=False)
        response = post_json(client, {**JSON_FIELDS, "altcha": solved_payload(client)})
        assert response.status_code == 202, response.get_data(as_text=True)
    finally:
        with app.app_context():  # this app's own connections, closed before the next test
            db.engine.dispose()


def test_json_asks_personal_statistics_only_with_true(embed_app: Flask) -> None:
    client = embed_app.test_client(use_cookies=False)
    for wrong in ("yes", 1, "true"):
        response = post_json(client, {**JSON_FIELDS, "statistics": wrong})
        assert response.status_code == 422, wrong
    assert post_json(client, {**JSON_FIELDS, "statistics": True}).status_code == 202
    with embed_app.app_context():
        purposes = db.session.scalars(sa.select(ConsentEvent.purpose)).all()
    assert "statistics" in purposes
