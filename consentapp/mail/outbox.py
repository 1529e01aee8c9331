"""Putting mail in the outbox, in the caller's transaction."""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import make_msgid, parseaddr
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import LazyString

from consentapp.extensions import db
from consentapp.mail.render import render_mail
from consentapp.models import OutboundEmail, utcnow

_HEADER_BREAK = re.compile(r"[\r\n]")


class HeaderInjection(ValueError):
    """A value bound for a mail header holds a line break."""


def _check_header(value: str) -> str:
    if _HEADER_BREAK.search(value):
        raise HeaderInjection("line break in a mail header value")
    return value


def message_id_domain() -> str:
    """The domain part of our Message-IDs: the sender's domain."""
    _, address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    return address.rpartition("@")[2] or "localhost"


def queue_email(
    *,
    to: str,
    template: str,
    language: str,
    subject: LazyString | str,
    context: dict[str, Any] | None = None,
    contact_id: int | None = None,
    headers: dict[str, str] | None = None,
    requires_subscription: bool = False,
    topic_id: int | None = None,
    delete_after_send: bool = False,
    campaign_id: int | None = None,
) -> OutboundEmail:
    """Render a mail and add it to the outbox; the caller commits it with its change.

    With `requires_subscription`, the worker sends it only if consent (to
    `topic_id`, or to any topic) still stands just before sending.
    """
    rendered = render_mail(template, language, subject, **(context or {}))
    extra = {name: _check_header(value) for name, value in (headers or {}).items()}
    row = OutboundEmail(
        kind=template,
        contact_id=contact_id,
        requires_subscription=requires_subscription,
        topic_id=topic_id,
        delete_after_send=delete_after_send,
        campaign_id=campaign_id,
        to_address=_check_header(to),
        subject=_check_header(rendered.subject),
        body_text=rendered.text,
        body_html=rendered.html,
        headers=extra,
        message_id=make_msgid(domain=message_id_domain()),
    )
    db.session.add(row)
    db.session.info["outbox_added"] = True
    return row


def recent_mail_count(to: str, kinds: str | tuple[str, ...], within: timedelta) -> int:
    """How many mails of `kinds` went into the outbox for `to` in the last `within`."""
    since = utcnow() - within
    wanted = (kinds,) if isinstance(kinds, str) else kinds
    count = db.session.scalar(
        sa.select(sa.func.count(OutboundEmail.id)).where(
            OutboundEmail.to_address == to,
            OutboundEmail.kind.in_(wanted),
            OutboundEmail.created_at >= since,
        )
    )
    return int(count or 0)
