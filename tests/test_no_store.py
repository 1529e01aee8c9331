"""Pages and downloads with personal data are never kept in a cache (Cache-Control)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.models import Contact
from consentapp.tokens import Purpose, make_token
from tests.builders import ADDRESS, EMAIL, NEW_ADDRESS
from tests.flows import (
    ask,
    confirm,
    confirmation_link,
    press,
    subscribe,
    verification_path,
    welcome_mail,
)
from tests.helpers import csrf_token, deliver, link_in, post_form
from tests.services import SMTPServer


def assert_no_store(response: TestResponse, what: str) -> None:
    assert response.headers.get("Cache-Control") == "no-store", (what, response.status_code)


def test_subscriber_pages_are_not_cached(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    assert_no_store(client.get("/subscribe"), "subscribe form")
    subscribe(client)
    path = confirmation_link(app, smtp_server)
    assert_no_store(client.get(path), "confirm page")
    token = csrf_token(client, path)
    assert_no_store(client.post(path, data={"csrf_token": token}), "confirmed page")
    deliver(app)
    welcome = welcome_mail(smtp_server)
    footer = link_in(welcome, "/preferences/")  # type: ignore[arg-type]
    unsubscribe = link_in(welcome, "/unsubscribe/")  # type: ignore[arg-type]
    assert_no_store(client.get(footer), "preferences through the footer link")
    assert_no_store(client.get("/preferences/not-a-token"), "a bad link")
    assert_no_store(client.get("/preferences"), "preferences request form")
    post_form(client, "/preferences", {"email": ADDRESS})
    deliver(app)
    [mail] = [m for m in smtp_server.to(ADDRESS) if "beheren" in str(m["Subject"])]
    requested = link_in(mail, "/preferences/")
    assert_no_store(client.get(requested), "preferences through the requested link")
    saved = post_form(client, requested, {"topics": ["product-updates"], "language": "nl"})
    assert_no_store(saved, "preferences saved")
    with app.app_context():
        contact = db.session.get(Contact, 1)
        assert contact is not None
        verify = make_token(Purpose.EMAIL_CHANGE, contact, n="x")
    changed = client.post(
        requested + "/email",
        data={"csrf_token": csrf_token(client, requested), "new_email": NEW_ADDRESS},
    )
    assert_no_store(changed, "address change")
    deliver(app)
    [verify_mail] = smtp_server.to(NEW_ADDRESS)
    assert_no_store(client.get(link_in(verify_mail, "/preferences/email/")), "verify address")
    assert_no_store(client.get(f"/preferences/email/{verify}"), "stale verify link")
    assert_no_store(client.get(unsubscribe), "unsubscribe page")
    one_click = app.test_client(use_cookies=False).post(
        unsubscribe, data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 200
    assert_no_store(one_click, "one-click unsubscribe")


def test_my_data_pages_and_downloads_are_not_cached(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    subscribe(client, EMAIL)
    confirm(client, confirmation_link(app, smtp_server, EMAIL))
    assert_no_store(client.get("/my-data"), "request form")
    assert ask(client, "access") == 200
    path = verification_path(app, smtp_server)
    assert_no_store(client.get(path), "identity check")
    status, html = press(client, path)
    assert status == 200
    done = client.post(path, data={"csrf_token": csrf_token(client, "/my-data")})
    assert_no_store(done, "a used identity link")
    downloads = re.findall(r'href="(/my-data/export/[^"]+\.(?:json|csv))"', html)
    assert len(downloads) == 2, html
    for download in downloads:
        response = client.get(download)
        assert response.status_code == 200
        assert_no_store(response, download.rsplit(".", 1)[-1])
