"""Putting mail in the outbox, in the caller's transaction."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from email.utils import parseaddr
from functools import lru_cache
from typing import Any, TypedDict, Unpack

import sqlalchemy as sa
from flask import current_app
from flask_babel import LazyString

from consentapp.extensions import db
from consentapp.mail.mime import ascii_domain
from consentapp.mail.render import RenderedMail, render_mail
from consentapp.models import OutboundEmail, utcnow

_HEADER_BREAK = re.compile(r"[\r\n]")


class HeaderInjection(ValueError):
    """A value bound for a mail header holds a line break."""


def _check_header(value: str) -> str:
    if _HEADER_BREAK.search(value):
        raise HeaderInjection("line break in a mail header value")
    return value


def new_message_id() -> str:
    """A Message-ID nobody can guess (a report naming it proves its sender saw the
    mail), under the sender's domain."""
    return f"<{secrets.token_urlsafe(18)}@{sender_domain()}>"


def sender_domain() -> str:
    """The sender's domain in ASCII form: our Message-IDs and List-Ids end in it."""
    return _domain_of(str(current_app.config["MAIL_DEFAULT_SENDER"]))


@lru_cache(maxsize=8)
def _domain_of(sender: str) -> str:
    _, address = parseaddr(sender)
    return ascii_domain(address.rpartition("@")[2] or "localhost")


def feedback_id(kind: str, campaign: str = "-", topic: str = "-") -> str:
    """Gmail's Feedback-ID (`campaign:topic:kind:sender`): its feedback loop reports
    complaint rates per value; the sender's domain is the constant last field."""
    return f"{campaign}:{topic}:{kind}:{sender_domain()}"


class OutboxOptions(TypedDict, total=False):
    """What the worker needs to know about a queued mail besides its content."""

    contact_id: int | None
    headers: dict[str, str] | None
    requires_subscription: bool
    topic_id: int | None
    delete_after_send: bool
    campaign_id: int | None
    reached_topics: list[int] | None


def queue_email(
    *,
    to: str,
    template: str,
    language: str,
    subject: LazyString | str,
    context: dict[str, Any] | None = None,
    **options: Unpack[OutboxOptions],
) -> OutboundEmail:
    """Render a mail and add it to the outbox; the caller commits it with its change.

    With `requires_subscription`, the worker sends it only if consent (to
    `topic_id`, or to any topic) still stands just before sending.
    """
    rendered = render_mail(template, language, subject, **(context or {}))
    return queue_rendered(to=to, kind=template, rendered=rendered, **options)


def queue_rendered(
    *, to: str, kind: str, rendered: RenderedMail, **options: Unpack[OutboxOptions]
) -> OutboundEmail:
    """Add an already rendered mail to the outbox (see `queue_email`)."""
    headers = options.get("headers") or {}
    extra = {name: _check_header(value) for name, value in headers.items()}
    extra.setdefault("Feedback-ID", feedback_id(kind))
    row = OutboundEmail(
        kind=kind,
        contact_id=options.get("contact_id"),
        requires_subscription=options.get("requires_subscription", False),
        topic_id=options.get("topic_id"),
        delete_after_send=options.get("delete_after_send", False),
        campaign_id=options.get("campaign_id"),
        reached_topics=options.get("reached_topics"),
        to_address=_check_header(to),
        subject=_check_header(rendered.subject),
        body_text=rendered.text,
        body_html=rendered.html,
        headers=extra,
        message_id=new_message_id(),
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
