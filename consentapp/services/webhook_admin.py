"""Managing outgoing webhook endpoints: edit, switch on or off, rotate the signing
secret, send a test event, delete, and read the delivery log a page at a time.

Every change is audited in its own transaction (each function commits). A new URL
passes the SSRF guard before it is kept, so staff learn at once that an address is
refused rather than from a log of failed deliveries.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    StaffUser,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStatus,
    utcnow,
)
from consentapp.services import audit
from consentapp.services.outgoing_webhooks import (
    TEST_EVENT,
    WebhookError,
    check_url,
    new_secret,
    parse_events,
)
from consentapp.services.webhook_delivery import TargetRefused, resolve_target

PAGE_SIZE = 50


def guarded_url(url: str) -> str:
    """`check_url`, then the SSRF guard: the host must resolve, and only to addresses
    webhooks may reach (WEBHOOK_ALLOW_PRIVATE_TARGETS lifts the second rule)."""
    url = check_url(url)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        resolve_target(parts.hostname or "", port)
    except TargetRefused as problem:
        raise WebhookError(f"this URL is refused: {problem}") from problem
    return url


def _audit(
    action: str,
    endpoint: WebhookEndpoint,
    actor: StaffUser | None,
    actor_label: str | None = None,
    **details: object,
) -> None:
    audit.record(
        action,
        target_type="webhook",
        target_id=endpoint.public_id,
        details=details or None,
        actor=actor,
        actor_label=actor_label,
    )


def edit_endpoint(
    endpoint: WebhookEndpoint,
    url: str,
    events: str | Iterable[str],
    include_personal: bool,
    actor: StaffUser | None = None,
) -> None:
    """Change the URL, events and personal fields (WebhookError says why not). Queued
    deliveries go to the new URL, with personal fields as the endpoint says then."""
    checked_url = guarded_url(url) if url.strip() != endpoint.url else endpoint.url
    checked_events = parse_events(events)
    changed = sorted(
        name
        for name, old, new in (
            ("url", endpoint.url, checked_url),
            ("events", endpoint.events, checked_events),
            ("personal", endpoint.include_personal, include_personal),
        )
        if old != new
    )
    endpoint.url = checked_url
    endpoint.events = checked_events
    endpoint.include_personal = include_personal
    _audit(
        "webhook.edit",
        endpoint,
        actor,
        changed=changed,
        events=checked_events,
        personal=include_personal,
    )
    db.session.commit()


def switch(endpoint: WebhookEndpoint, on: bool, actor: StaffUser | None = None) -> None:
    """Switch an endpoint on (its failures count afresh) or off (nothing is sent to it,
    new events are not queued for it)."""
    if endpoint.active == on:
        return
    endpoint.active = on
    endpoint.disabled_at = None if on else utcnow()
    endpoint.failing_since = None
    _audit("webhook.switch_on" if on else "webhook.switch_off", endpoint, actor)
    if on:  # deliveries waiting for it are due now
        db.session.info["webhooks_added"] = True
    db.session.commit()


def rotate_secret(endpoint: WebhookEndpoint, actor: StaffUser | None = None) -> str:
    """A new signing secret, in force at once (the old one stops verifying); returns it
    to be shown once. Deliveries still queued are signed with the new one."""
    secret = new_secret()
    endpoint.secret = secret
    _audit("webhook.rotate_secret", endpoint, actor)
    db.session.commit()
    return secret


def send_test(endpoint: WebhookEndpoint, actor: StaffUser | None = None) -> WebhookDelivery:
    """Queue a `webhook.test` event for this endpoint alone; it carries no personal data."""
    now = utcnow()
    delivery = WebhookDelivery(
        public_id="msg_" + secrets.token_urlsafe(18),
        endpoint_id=endpoint.id,
        event=TEST_EVENT,
        subject_id=None,
        payload={
            "type": TEST_EVENT,
            "timestamp": now.isoformat(timespec="seconds"),
            "data": {"endpoint": endpoint.public_id},
        },
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    _audit("webhook.test", endpoint, actor, delivery=delivery.public_id)
    db.session.info["webhooks_added"] = True
    db.session.commit()
    return delivery


def pending_count(endpoint: WebhookEndpoint) -> int:
    """How many of the endpoint's deliveries are not sent yet."""
    pending = db.session.scalar(
        sa.select(sa.func.count(WebhookDelivery.id)).where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == WebhookStatus.PENDING,
        )
    )
    return pending or 0


def delete_endpoint(
    endpoint: WebhookEndpoint, actor: StaffUser | None = None, actor_label: str | None = None
) -> int:
    """Remove an endpoint with its delivery log; deliveries not yet sent are dropped.
    Returns how many were still pending. `actor_label` names who did it when no staff
    account did (the command line)."""
    pending = pending_count(endpoint)
    _audit("webhook.delete", endpoint, actor, actor_label, url=endpoint.url, dropped=pending)
    db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)
    db.session.commit()
    return pending


@dataclass(frozen=True)
class DeliveryPage:
    """One page of an endpoint's log, newest first."""

    rows: Sequence[WebhookDelivery]
    page: int
    has_next: bool


def read_status(raw: str | None) -> WebhookStatus | None:
    """The status filter of the log: empty for all (WebhookError for an unknown one)."""
    if not raw:
        return None
    try:
        return WebhookStatus(raw)
    except ValueError as exc:
        known = ", ".join(status.value for status in WebhookStatus)
        raise WebhookError(f"unknown status {raw[:20]!r} (known: {known})") from exc


def delivery_page(
    endpoint: WebhookEndpoint, status: WebhookStatus | None, page: int
) -> DeliveryPage:
    """Page `page` (from 1) of the endpoint's deliveries, optionally of one status."""
    query = sa.select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    rows = db.session.scalars(
        query.order_by(WebhookDelivery.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    ).all()
    return DeliveryPage(rows[:PAGE_SIZE], page, len(rows) > PAGE_SIZE)
