"""Pages, languages, error pages, security headers and the cookie list."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import ConsentEvent
from consentapp.services.notices import publish_notice
from tests.builders import VALID
from tests.conftest import make_app
from tests.helpers import csrf_token, post_form
from tests.services import SMTPServer

PUBLIC_PAGES = ["/", "/contact", "/contact/thanks", "/privacy", "/privacy/1", "/cookies"]


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_public_pages_answer_with_strict_security_headers(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "default-src 'self'" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_pages_need_no_inline_code_and_nothing_from_elsewhere(
    client: FlaskClient, url: str
) -> None:
    html = client.get(url).get_data(as_text=True)
    assert " style=" not in html and "<style" not in html
    assert "<script" not in html
    for reference in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not reference.startswith(("http://", "https://", "//")), reference


def test_default_language_is_dutch(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="nl">' in html
    assert "Contacteer ons" in html


def test_lang_parameter_switches_and_is_remembered(client: FlaskClient) -> None:
    assert '<html lang="en">' in client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in client.get("/contact").get_data(as_text=True)
    assert '<html lang="nl">' in client.get("/cookies?lang=nl").get_data(as_text=True)
    assert '<html lang="nl">' in client.get("/").get_data(as_text=True)


def test_unknown_lang_parameter_is_ignored(client: FlaskClient) -> None:
    assert '<html lang="nl">' in client.get("/?lang=fr").get_data(as_text=True)


def test_accept_language_is_the_fallback(client: FlaskClient) -> None:
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    french = client.get("/", headers={"Accept-Language": "fr-BE"})
    assert '<html lang="nl">' in french.get_data(as_text=True)


def test_language_switch_keeps_the_page(client: FlaskClient) -> None:
    html = client.get("/privacy/1").get_data(as_text=True)
    assert 'href="/privacy/1?lang=en"' in html


def test_every_cookie_set_is_listed_on_the_cookie_page(client: FlaskClient) -> None:
    set_cookies: set[str] = set()

    def collect(response_headers: list[str]) -> None:
        for header in response_headers:
            set_cookies.update(SimpleCookie(header).keys())

    for url in [*PUBLIC_PAGES, "/?lang=en", "/healthz", "/missing"]:
        collect(client.get(url).headers.getlist("Set-Cookie"))
    token = csrf_token(client, "/contact")
    collect(
        client.post("/contact", data={**VALID, "csrf_token": token}).headers.getlist("Set-Cookie")
    )
    collect(client.post("/contact", data={"csrf_token": token}).headers.getlist("Set-Cookie"))
    collect(post_form(client, "/contact", VALID).headers.getlist("Set-Cookie"))

    assert set_cookies, "the forms need a session cookie: the collection must see it"
    listed = set(
        re.findall(
            r'<code class="cookie-name">([^<]+)</code>',
            client.get("/cookies").get_data(as_text=True),
        )
    )
    assert set_cookies <= listed, set_cookies - listed


def test_session_cookie_is_httponly_and_lax(client: FlaskClient) -> None:
    header = client.get("/contact").headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header  # only in production, tested in test_config


@pytest.mark.parametrize(
    ("method", "url", "status", "text"),
    [
        ("get", "/does-not-exist", 404, "Pagina niet gevonden"),
        ("delete", "/contact", 405, "Deze pagina kan niet op die manier gebruikt worden"),
        ("post", "/privacy", 405, "Deze pagina kan niet op die manier gebruikt worden"),
    ],
)
def test_error_pages_are_friendly(
    client: FlaskClient, method: str, url: str, status: int, text: str
) -> None:
    response = getattr(client, method)(url)
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert text in html
    assert "Traceback" not in html


def test_unexpected_error_is_a_friendly_500(
    database_url: str, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    app = make_app(database_url, smtp_server.port, tmp_path / "instance")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Er ging iets mis aan onze kant" in html
    assert "secret internal detail" not in html and "Traceback" not in html


def test_healthz_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(
    smtp_server: SMTPServer, tmp_path: Path
) -> None:
    app = make_app("sqlite:////nonexistent-dir/db.sqlite3", smtp_server.port, tmp_path / "i")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_pages_fail_closed_without_a_published_notice(
    smtp_server: SMTPServer, tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "empty.sqlite3"
    path.write_bytes(sqlite_template.read_bytes())
    app = make_app(f"sqlite:///{path}", smtp_server.port, tmp_path / "i")
    response = app.test_client().get("/contact")
    assert response.status_code == 503
    assert "Traceback" not in response.get_data(as_text=True)


def test_static_files_are_served_locally(client: FlaskClient) -> None:
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["Content-Type"]
    response.close()


def test_thank_you_page_after_submission_in_english(app: Flask, client: FlaskClient) -> None:
    client.get("/?lang=en")
    response = post_form(client, "/contact", VALID, follow_redirects=True)
    assert "Thank you for your message" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    ["/privacy/99999999999999999999999", "/privacy/²"],
)
def test_odd_numbers_in_urls_are_404_not_500(client: FlaskClient, url: str) -> None:
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("version", ["²", "9" * 30, "-1", "1.5"])
def test_odd_notice_versions_on_forms_fall_back_to_the_current_one(
    app: Flask, client: FlaskClient, version: str
) -> None:
    with app.app_context():
        publish_notice(
            {
                "nl": ("Privacyverklaring", "# Privacyverklaring\n\nVersie twee.\n"),
                "en": ("Privacy notice", "# Privacy notice\n\nVersion two.\n"),
            }
        )
        db.session.commit()
    response = post_form(client, "/contact", {**VALID, "notice_version": version})
    assert response.status_code == 302
    with app.app_context():
        event = db.session.scalar(sa.select(ConsentEvent))
        assert event is not None
        assert (event.notice_version, event.notice_language) == (2, "nl")


@pytest.mark.parametrize(
    "url",
    [
        "/staff/contacts?page=²",
        "/staff/inquiries?page=" + "9" * 30,
        "/staff/audit?before=" + "9" * 30,
        "/staff/audit?actor=²",
    ],
)
def test_odd_numbers_on_staff_pages_are_ignored(admin_client: FlaskClient, url: str) -> None:
    assert admin_client.get(url).status_code == 200
