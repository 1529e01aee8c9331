"""Identical requests arriving at the same moment change a subscription once.

The app runs in a real threaded WSGI server on the test database; a barrier
releases every request together, as a mail provider retrying a one-click
unsubscribe or a double-clicked button would.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from consentapp.extensions import db
from consentapp.models import ConsentEvent, OutboundEmail
from tests.flows import confirmation_link, subscribe, welcome_mail
from tests.helpers import csrf_token, link_in, subscribed
from tests.services import SMTPServer

AT_ONCE = 12


@pytest.fixture
def server(app: Flask) -> Iterator[BaseWSGIServer]:
    """The app behind a threaded WSGI server on a free port."""
    wsgi = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
    thread.start()
    yield wsgi
    wsgi.shutdown()
    thread.join(timeout=10)


def post_at_once(
    server: BaseWSGIServer, path: str, form: dict[str, str], cookie: str = ""
) -> list[int]:
    """POST the same form from AT_ONCE connections released together; their statuses."""
    body = urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    barrier = threading.Barrier(AT_ONCE)
    statuses: list[int] = []

    def post() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
        connection.connect()
        barrier.wait()
        connection.request("POST", path, body=body, headers=headers)
        statuses.append(connection.getresponse().status)
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(AT_ONCE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def actions(app: Flask, action: str) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                sa.select(sa.func.count(ConsentEvent.id)).where(ConsentEvent.action == action)
            )
            or 0
        )


def session_cookie(app: Flask, client: FlaskClient) -> str:
    """The browser's session cookie, so the threads share its CSRF token."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    return f"{name}={cookie.value}"


@pytest.mark.usefixtures("confirmed")
def test_simultaneous_one_click_unsubscribes_write_one_withdrawal(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    server: BaseWSGIServer,
) -> None:
    one_click = link_in(welcome_mail(smtp_server), "/unsubscribe/")  # type: ignore[arg-type]

    statuses = post_at_once(server, one_click, {"List-Unsubscribe": "One-Click"})

    assert statuses == [200] * AT_ONCE, "every caller gets the RFC 8058 answer"
    assert subscribed(app) == {"product-updates": "unsubscribed"}
    assert actions(app, "withdrawn") == 1


def test_a_double_submitted_confirmation_confirms_once(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, server: BaseWSGIServer
) -> None:
    subscribe(client)
    path = confirmation_link(app, smtp_server)
    token = csrf_token(client, path)

    statuses = post_at_once(server, path, {"csrf_token": token}, session_cookie(app, client))

    assert sorted(set(statuses)) in ([200], [200, 409])
    assert statuses.count(200) == 1, "one press confirms, the others see it done"
    assert subscribed(app) == {"product-updates": "confirmed"}
    assert actions(app, "confirmed") == 1
    with app.app_context():
        welcomes = db.session.scalar(
            sa.select(sa.func.count(OutboundEmail.id)).where(OutboundEmail.kind == "welcome")
        )
    assert welcomes == 1


@pytest.mark.usefixtures("confirmed")
def test_simultaneous_preference_saves_withdraw_once(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    server: BaseWSGIServer,
) -> None:
    footer = link_in(welcome_mail(smtp_server), "/preferences/")  # type: ignore[arg-type]
    token = csrf_token(client, footer)

    statuses = post_at_once(
        server, footer, {"csrf_token": token, "language": "nl"}, session_cookie(app, client)
    )

    assert statuses == [302] * AT_ONCE
    assert subscribed(app) == {"product-updates": "unsubscribed"}
    assert actions(app, "withdrawn") == 1
