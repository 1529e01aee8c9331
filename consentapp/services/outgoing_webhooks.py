"""Outgoing webhooks: endpoints admins register, and the events queued for them.

`emit` adds one delivery row per endpoint that wants the event, in the caller's
transaction: a change rolled back emits nothing, a change committed is delivered by
the worker (`consentapp/services/webhook_delivery.py`). Each event is emitted at the
one place its change happens; the payload carries ids, the event, the topic and the
time, never personal fields (those are added when sending, for endpoints that
include them).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentPurpose,
    StaffUser,
    Topic,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStatus,
    utcnow,
)
from consentapp.services import audit

EVENTS = (
    "contact.created",
    "subscription.requested",
    "subscription.confirmed",
    "subscription.withdrawn",
    "contact.rectified",
    "contact.erased",
    "bounce.recorded",
    "complaint.recorded",
    "data_request.received",
    "data_request.completed",
)
# Not one of EVENTS: a ping sent only by the staff area's "send a test event" button,
# to the one endpoint it is pressed for; no endpoint subscribes to it.
TEST_EVENT = "webhook.test"

# The ledger rows that are webhook events (`record_consent` writes every one).
CONSENT_EVENTS = {
    (ConsentPurpose.NEWSLETTER, ConsentAction.REQUESTED): "subscription.requested",
    (ConsentPurpose.NEWSLETTER, ConsentAction.CONFIRMED): "subscription.confirmed",
    (ConsentPurpose.NEWSLETTER, ConsentAction.WITHDRAWN): "subscription.withdrawn",
    (ConsentPurpose.CONTACT, ConsentAction.RECTIFIED): "contact.rectified",
}


class WebhookError(ValueError):
    """An endpoint that cannot be registered: the message says why."""


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_events(raw: str | Iterable[str]) -> list[str]:
    """The event names of a comma-separated list, checked against EVENTS."""
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    events = [name.strip() for name in names if name.strip()]
    if not events:
        raise WebhookError("name at least one event")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookError(f"unknown events: {', '.join(unknown)} (known: {', '.join(EVENTS)})")
    return [event for event in EVENTS if event in events]


def check_url(url: str) -> str:
    """An http(s) URL with a host and no credentials in it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise WebhookError("the URL must start with https:// (or http://) and name a host")
    if parts.username or parts.password:
        raise WebhookError("the URL must not carry a user name or password")
    try:
        parts.port  # noqa: B018 (a port out of range raises)
    except ValueError as exc:
        raise WebhookError("the URL names a port that does not exist") from exc
    if len(url) > 2000:
        raise WebhookError("the URL is longer than 2000 characters")
    return url.strip()


def add_endpoint(
    url: str,
    events: str | Iterable[str],
    *,
    include_personal: bool = False,
    actor: StaffUser | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once). Commits."""
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=check_url(url),
        events=parse_events(events),
        secret=secret,
        include_personal=include_personal,
    )
    db.session.add(endpoint)
    db.session.flush()
    audit.record(
        "webhook.add",
        target_type="webhook",
        target_id=endpoint.public_id,
        details={"events": endpoint.events, "personal": include_personal},
        actor=actor,
    )
    db.session.commit()
    return endpoint, secret


def emit(
    event: str,
    *,
    subject_id: str | None = None,
    topic_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Queue `event` for every active endpoint that wants it. No commit.

    `data` must hold no personal field: ids, kinds, field names only.
    """
    assert event in EVENTS, event
    endpoints = [
        endpoint
        for endpoint in db.session.scalars(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
        )
        if event in endpoint.events
    ]
    if not endpoints:
        return 0
    body: dict[str, Any] = {}
    if subject_id is not None:
        body["contact"] = subject_id
    if topic_id is not None:
        topic = db.session.get(Topic, topic_id)
        body["topic"] = topic.slug if topic else None
    body.update(data or {})
    now = utcnow()
    payload = {"type": event, "timestamp": now.isoformat(timespec="seconds"), "data": body}
    for endpoint in endpoints:
        db.session.add(
            WebhookDelivery(
                public_id="msg_" + secrets.token_urlsafe(18),
                endpoint_id=endpoint.id,
                event=event,
                subject_id=subject_id,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
            )
        )
    # Read after the commit: Celery is asked to deliver at once (tasks.kick_delivery).
    db.session.info["webhooks_added"] = True
    return len(endpoints)


def emit_consent(
    purpose: str,
    action: str,
    subject_id: str,
    topic_id: int | None,
    details: dict[str, Any] | None,
) -> None:
    """The event of a ledger row, if it is one. No commit."""
    event = CONSENT_EVENTS.get((ConsentPurpose(purpose), ConsentAction(action)))
    if event is None:
        return
    data = {"field": details["field"]} if details and "field" in details else None
    emit(event, subject_id=subject_id, topic_id=topic_id, data=data)


def endpoints() -> Sequence[WebhookEndpoint]:
    """Every endpoint, newest first."""
    return db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())).all()


def delivery_log(endpoint: WebhookEndpoint, limit: int = 100) -> Sequence[WebhookDelivery]:
    """An endpoint's latest deliveries, newest first."""
    return db.session.scalars(
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    ).all()


def send_again(delivery: WebhookDelivery, actor: StaffUser | None = None) -> None:
    """Queue a delivery once more, now, with the same webhook-id; a disabled endpoint
    is switched back on (its failures start counting afresh). Commits."""
    endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id)
    assert endpoint is not None
    if not endpoint.active:
        endpoint.active = True
        endpoint.disabled_at = None
        endpoint.failing_since = None
    delivery.status = WebhookStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    audit.record(
        "webhook.send_again",
        target_type="webhook",
        target_id=endpoint.public_id,
        details={"delivery": delivery.public_id},
        actor=actor,
    )
    db.session.info["webhooks_added"] = True
    db.session.commit()
