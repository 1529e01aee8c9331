"""Absolute links for mails, built from BASE_URL, inside or outside a request."""

from __future__ import annotations

from typing import Any

from flask import current_app

from consentapp.models import Contact
from consentapp.tokens import Purpose, make_token


def external_url(endpoint: str, **values: Any) -> str:
    """`BASE_URL` + the path of `endpoint`; works in the worker as in a request."""
    adapter = current_app.url_map.bind("localhost")
    path = adapter.build(endpoint, values)
    return str(current_app.config["BASE_URL"]) + path


def unsubscribe_url(
    contact: Contact, topic_slugs: list[str] | None = None, *, campaign: str | None = None
) -> str:
    """One-click unsubscribe link: from `topic_slugs`, or from every topic; `campaign`
    (a public id) counts the unsubscribe in that campaign's report, as its mail does."""
    extra = {"k": campaign} if campaign else {}
    token = make_token(Purpose.UNSUBSCRIBE, contact, t=topic_slugs, **extra)
    return external_url("subscriptions.unsubscribe", token=token)


def preferences_url(contact: Contact) -> str:
    """The lasting preferences link printed in newsletter footers."""
    return external_url("subscriptions.preferences", token=make_token(Purpose.PREFERENCES, contact))


def web_version_url(contact: Contact, campaign_public_id: str) -> str:
    """The newsletter's "view in browser" link: that campaign, for this person."""
    token = make_token(Purpose.WEB_VERSION, contact, k=campaign_public_id)
    return external_url("subscriptions.web_version", token=token)


def list_unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers: mail clients show an unsubscribe button."""
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
