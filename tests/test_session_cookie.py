"""The session cookie: the site's own interface skips Flask's work on requests without a
session, and answers exactly as Flask's stock interface would."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.cookies import SessionCookie
from consentapp.security import SECURITY_HEADERS, set_security_headers
from tests.flows import log_in
from tests.helpers import csrf_token

Facts = tuple[int, tuple[str, ...], frozenset[str]]


def facts(response: TestResponse, cookie_name: str) -> Facts:
    """What a browser keeps of an answer: status, what it does to the session cookie
    (set, deleted), and the Vary tokens."""
    done = []
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        if name == cookie_name:
            deleted = "Expires=Thu, 01 Jan 1970" in header or "Max-Age=0" in header
            done.append("deleted" if deleted else "set")
    vary = frozenset(
        token.strip() for token in response.headers.get("Vary", "").split(",") if token
    )
    return response.status_code, tuple(done), vary


def add_session_routes(app: Flask) -> None:
    """Views that read, write, empty or ignore the session."""

    def read() -> str:
        return str(session.get("probe", "none"))

    def write() -> str:
        session["probe"] = "kept"
        return "written"

    def clear() -> str:
        session.clear()
        return "cleared"

    def ignore() -> str:
        return "nothing"

    for name, view in {"read": read, "write": write, "clear": clear, "ignore": ignore}.items():
        app.add_url_rule(f"/test-session/{name}", f"test_session_{name}", view)


def journey(app: Flask, client: FlaskClient) -> list[Facts]:
    """Requests without a cookie, then with one, then with it emptied; and the site's own
    pages: a language switch, a form, a staff login, a link that does not exist."""
    name = app.config["SESSION_COOKIE_NAME"]
    seen = []
    for step in ["ignore", "read", "clear", "write", "ignore", "read", "clear", "read", "ignore"]:
        seen.append(facts(client.get(f"/test-session/{step}"), name))
    for url in ["/privacy", "/cookies?lang=en", "/privacy", "/r/not-a-token", "/subscribe"]:
        seen.append(facts(client.get(url), name))
    fresh = app.test_client()
    csrf_token(fresh, "/staff/login")
    log_in(fresh, "staff@crm.example")
    seen.append(facts(fresh.get("/staff/"), name))
    return seen


def test_the_session_cookie_answers_as_flask_own_interface(app: Flask, staff_id: int) -> None:
    add_session_routes(app)
    assert isinstance(app.session_interface, SessionCookie)
    ours = journey(app, app.test_client())
    app.session_interface = SecureCookieSessionInterface()
    stock = journey(app, app.test_client())
    assert ours == stock
    # The journey goes through every case the shortcut touches.
    # (Flask-Login reads the session on every answer, so every one varies on it.)
    assert (200, (), frozenset({"Cookie"})) in ours  # empty: nothing saved
    assert (200, ("set",), frozenset({"Cookie"})) in ours
    assert (200, ("deleted",), frozenset({"Cookie"})) in ours


def test_a_session_written_before_is_read_back(app: Flask) -> None:
    add_session_routes(app)
    client = app.test_client()
    assert client.get("/test-session/read").get_data(as_text=True) == "none"
    client.get("/test-session/write")
    assert client.get("/test-session/read").get_data(as_text=True) == "kept"


def test_security_headers_keep_the_ones_a_view_set_and_add_the_rest(app: Flask) -> None:
    make: Callable[..., object] = app.response_class
    response = make("page", headers={"x-frame-options": "SAMEORIGIN"})
    assert isinstance(response, app.response_class)
    set_security_headers(response)
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    for key, value in SECURITY_HEADERS:
        if key != "X-Frame-Options":
            assert response.headers.getlist(key) == [value]
