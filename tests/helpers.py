"""Small helpers the tests share: reading CSRF tokens, posting forms, delivering mail."""

from __future__ import annotations

import re
from email.message import EmailMessage
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.services.delivery import DeliveryReport, deliver_due

CSRF = re.compile(r'name="csrf_token"[^>]*? value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str) -> str:
    """Open a form page and read its CSRF token, as a browser would receive it."""
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def post_form(client: FlaskClient, url: str, data: dict[str, Any], **kwargs: Any) -> TestResponse:
    """Submit a form the way a browser does: with the token from the page."""
    payload = {"csrf_token": csrf_token(client, url), **data}
    return client.post(url, data=payload, **kwargs)


def deliver(app: Flask, **kwargs: Any) -> DeliveryReport:
    """Run one worker delivery pass."""
    with app.app_context():
        return deliver_due(**kwargs)


def error_messages(response: TestResponse) -> list[str]:
    """The field error messages a re-rendered form shows."""
    html = response.get_data(as_text=True)
    blocks = re.findall(r'<ul class="field-errors"[^>]*>(.*?)</ul>', html, flags=re.S)
    return [item.strip() for block in blocks for item in re.findall(r"<li>(.*?)</li>", block)]


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a received mail."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None, "mail has no text part"
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    """The HTML part of a received mail."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None, "mail has no HTML part"
    return str(part.get_content())


def link_in(message: EmailMessage, path_prefix: str) -> str:
    """The path of the first link in the mail's text that starts with `path_prefix`."""
    for url in re.findall(r"https?://\S+", text_of(message)):
        path = re.sub(r"^https?://[^/]+", "", url)
        if path.startswith(path_prefix):
            return path
    raise AssertionError(f"no {path_prefix} link in: {text_of(message)}")


def without_csrf(html: str) -> str:
    """A page with its CSRF token blanked, to compare two answers."""
    return re.sub(r'(name="csrf_token"[^>]*? value=")[^"]+"', r'\1"', html)
