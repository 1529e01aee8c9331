"""Small helpers the tests share: reading CSRF tokens, posting forms, delivering mail, and
reading back what is stored (subscriptions, the ledger, the audit log, a contact).

Journeys through the forms live in tests/flows.py, rows written directly in tests/builders.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks import Webhook
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.models import (
    ApiScope,
    AuditEntry,
    Bounce,
    ConsentEvent,
    Contact,
    ProcessingActivity,
    Subscription,
    Topic,
    utcnow,
)
from consentapp.services.api_tokens import issue_token
from consentapp.services.contacts import find_contact
from consentapp.services.delivery import DeliveryReport, deliver_due
from consentapp.services.webhook_delivery import deliver_webhooks
from tests.builders import ADDRESS

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


def is_check_mail_page(status: int, html: str) -> bool:
    """The "check your mailbox" page a request answers with when it was taken (Dutch default)."""
    return (
        status == 200
        and '<div class="panel panel-success">' in html
        and ("<h1>Kijk in uw mailbox</h1>" in html)
    )


def visible_text(html: str) -> str:
    """A page's text as a reader sees it: tags (and their attributes) dropped, spaces joined."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def without_csrf(html: str) -> str:
    """A page with its CSRF token blanked, to compare two answers."""
    return re.sub(r'(name="csrf_token"[^>]*? value=")[^"]+"', r'\1"', html)


def subscribed(app: Flask, email: str = ADDRESS) -> dict[str, str]:
    """The address's subscriptions: topic slug to status."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Topic.slug, Subscription.status)
            .join(Subscription.topic)
            .join(Subscription.contact)
            .where(Contact.email == email)
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def ledger(app: Flask) -> list[tuple[str, str, str | None]]:
    """Every ledger row as (action, channel, topic slug), oldest first."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(ConsentEvent.action, ConsentEvent.channel, Topic.slug)
            .outerjoin(Topic, Topic.id == ConsentEvent.topic_id)
            .order_by(ConsentEvent.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def stored(app: Flask, email: str) -> dict[str, Any] | None:
    """The contact's stored fields, or None when there is no such contact."""
    with app.app_context():
        contact = find_contact(email)
        if contact is None:
            return None
        names = ("public_id", "email", "name", "company", "address", "phone", "fax")
        return {
            **{name: getattr(contact, name) for name in names},
            "language": contact.language,
            "source_channel": contact.source_channel,
        }


@dataclass(frozen=True)
class Audited:
    """One audit entry, as far as these tests look at it."""

    actor_id: int | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any] | None


def audited(app: Flask, action: str) -> list[Audited]:
    """The audit entries with this action, oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        ).all()
        return [Audited(r.actor_id, r.target_type, r.target_id, r.details) for r in rows]


def prefixed_token(client: FlaskClient, url: str, prefix: str) -> str:
    """The CSRF token of a prefixed form (`update-csrf_token`, ...) on a page."""
    html = client.get(url).get_data(as_text=True)
    match = re.search(rf'name="{prefix}-csrf_token"[^>]*? value="([^"]+)"', html)
    assert match, f"no {prefix}-csrf_token on {url}"
    return match.group(1)


def activity(app: Flask, position: int = 0) -> dict[str, Any]:
    """One entry of the record of processing, with its id."""
    with app.app_context():
        row = db.session.scalar(
            sa.select(ProcessingActivity).where(ProcessingActivity.position == position)
        )
        assert row is not None
        return {"id": row.id, **row.as_dict()}


def bounce_state(app: Flask, address: str) -> tuple[str | None, list[str]]:
    """The contact's undeliverable reason and its bounce kinds, oldest first."""
    with app.app_context():
        contact = find_contact(address)
        assert contact is not None
        kinds = db.session.scalars(
            sa.select(Bounce.kind).where(Bounce.contact_id == contact.id).order_by(Bounce.id)
        ).all()
        return contact.undeliverable_reason, [str(kind) for kind in kinds]


# --- the REST API ---------------------------------------------------------------

PROBLEM = "application/problem+json"  # the API's errors (RFC 9457)


def token_for(app: Flask, *scopes: ApiScope, expires_days: int | None = None) -> str:
    """The secret of a new API token with these scopes (every scope when none named)."""
    with app.app_context():
        return issue_token("sync", scopes or tuple(ApiScope), "tests", expires_days).secret


def call(client: FlaskClient, secret: str, path: str, **kwargs: object) -> TestResponse:
    """One API call with the token as a bearer."""
    method = str(kwargs.pop("method", "GET"))
    headers = {"Authorization": f"Bearer {secret}"}
    return client.open(path, method=method, headers=headers, **kwargs)  # type: ignore[arg-type]


def assert_problem(response: TestResponse, status: int) -> dict[str, object]:
    """The response is a problem document (RFC 9457) with this status; its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"]
    return dict(body)


def public_id_of(app: Flask, email: str) -> str:
    """The public id of the contact with this address."""
    with app.app_context():
        contact = find_contact(email)
        assert contact is not None
        return contact.public_id


def run_webhooks(app: Flask, after: timedelta = timedelta(0)) -> int:
    """One outgoing-webhook delivery pass, as if run `after` from now."""
    with app.app_context():
        return deliver_webhooks(utcnow() + after)


def verified_webhooks(
    received: list[tuple[dict[str, str], str, str]], secret: str
) -> list[dict[str, Any]]:
    """Every body a receiver got, each checked with the standardwebhooks library."""
    hook = Webhook(secret)
    payloads = []
    for headers, body, _ in received:
        lowered = {name.lower(): value for name, value in headers.items()}
        assert lowered["webhook-id"].startswith("msg_")
        payloads.append(hook.verify(body, lowered))
    return payloads
