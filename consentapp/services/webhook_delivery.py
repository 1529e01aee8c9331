"""Delivering outgoing webhooks: signed per Standard Webhooks, to public addresses only.

A pass claims due deliveries (moving their next try past a lease, with a conditional
UPDATE, so two workers never send one row), posts each with short timeouts and no
redirects, and keeps only the status code and a short excerpt of the answer. A
failure is tried again later (RETRY_DELAYS, about three days in all); an endpoint
failing for three days is switched off and the admins are mailed.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from standardwebhooks import Webhook

from consentapp.extensions import db
from consentapp.mail.outbox import queue_email
from consentapp.models import (
    Contact,
    Role,
    StaffUser,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookStatus,
    utcnow,
)

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
EXCERPT_LENGTH = 200
LEASE = timedelta(minutes=2)
BATCH = 50
# After the first try: waits before each retry; after the last, the delivery fails. They
# add up to just over DISABLE_AFTER, so the last failure of even a lone event switches the
# endpoint off.
RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 73800)
)
DISABLE_AFTER = timedelta(days=3)
# Cloud metadata services that are not in a private or link-local range.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("100.100.100.200", "fd00:ec2::254", "169.254.169.254")
)


class TargetRefused(Exception):
    """The URL resolves to an address webhooks may not reach."""


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return _forbidden(address.ipv4_mapped)
        # 6to4 and Teredo carry an IPv4 address inside: it must pass the same rule.
        embedded = [address.sixtofour, *(address.teredo or ())]
        if any(inner is not None and _forbidden(inner) for inner in embedded):
            return True
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def resolve_target(host: str, port: int) -> str:
    """The address to connect to for `host`: every address it resolves to must be
    public, unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on. The connection then goes to
    that address, so a second lookup cannot point it elsewhere."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{host} does not resolve") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    if not current_app.config.get("WEBHOOK_ALLOW_PRIVATE_TARGETS"):
        refused = [str(a) for a in addresses if _forbidden(a)]
        if refused:
            raise TargetRefused(f"{host} resolves to a private address ({refused[0]})")
    return str(addresses[0])


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a fixed address, checking the certificate for the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    """Plain HTTP to a fixed address, with the URL's host in the Host header."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


@dataclass(frozen=True)
class Answer:
    """What came back: the status (None when nothing did) and a short excerpt."""

    status: int | None
    excerpt: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: str, headers: dict[str, str]) -> Answer:
    """POST `body` to `url`; redirects are answers, not followed."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = resolve_target(host, port)
    except (TargetRefused, ValueError) as exc:
        return Answer(None, str(exc)[:EXCERPT_LENGTH])
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(host, port, address, TIMEOUT_SECONDS)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body.encode("utf-8"), headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_LENGTH).decode("utf-8", "replace")
        return Answer(response.status, excerpt)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}"[:EXCERPT_LENGTH])
    finally:
        connection.close()


def body_for(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> str:
    """The JSON sent: the stored payload, with e-mail and name when the endpoint
    includes personal fields and the person is still there (never for an erasure)."""
    payload: dict[str, Any] = json.loads(json.dumps(delivery.payload))
    if endpoint.include_personal and delivery.subject_id and delivery.event != "contact.erased":
        contact = db.session.scalar(
            sa.select(Contact).where(Contact.public_id == delivery.subject_id)
        )
        if contact is not None and contact.erased_at is None and contact.email:
            payload["data"]["email"] = contact.email
            payload["data"]["name"] = contact.name
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def signed_headers(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, body: str
) -> dict[str, str]:
    """The Standard Webhooks headers for `body`."""
    now = utcnow()
    signature = Webhook(endpoint.secret).sign(delivery.public_id, now, body)
    return {
        "Content-Type": "application/json",
        "User-Agent": "consentapp-webhooks",
        "webhook-id": delivery.public_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def _claim(now: datetime, limit: int) -> list[int]:
    due = db.session.execute(
        sa.select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == WebhookStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ).all()
    claimed = []
    for delivery_id, seen in due:
        moved = db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.next_attempt_at == seen)
            .values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
    db.session.commit()
    return claimed


def deliver_webhooks(now: datetime | None = None, limit: int = BATCH) -> int:
    """One pass over the due deliveries; returns how many were delivered."""
    delivered = 0
    for delivery_id in _claim(now or utcnow(), limit):
        delivery = db.session.get(WebhookDelivery, delivery_id)
        endpoint = db.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
        if delivery is None or endpoint is None:
            continue
        body = body_for(delivery, endpoint)
        answer = post(endpoint.url, body, signed_headers(delivery, endpoint, body))
        record_answer(delivery, endpoint, answer, now or utcnow())
        db.session.commit()
        delivered += answer.ok
    return delivered


def record_answer(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, answer: Answer, now: datetime
) -> None:
    """Keep the outcome of one try; schedule the next or give up. No commit."""
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = answer.status
    # Printable text only: a binary answer (a NUL byte) is no text a database keeps.
    excerpt = "".join(c if c.isprintable() else " " for c in answer.excerpt)
    delivery.response_excerpt = excerpt[:EXCERPT_LENGTH].strip() or None
    if answer.ok:
        delivery.status = WebhookStatus.DELIVERED
        delivery.delivered_at = now
        endpoint.failing_since = None
        return
    if delivery.attempts > len(RETRY_DELAYS):
        delivery.status = WebhookStatus.FAILED
    else:
        delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts - 1]
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif endpoint.active and now - endpoint.failing_since >= DISABLE_AFTER:
        disable(endpoint, now)


def disable(endpoint: WebhookEndpoint, now: datetime) -> None:
    """Switch an endpoint off and tell every active admin, through the outbox. No commit."""
    endpoint.active = False
    endpoint.disabled_at = now
    log.warning("webhook endpoint %s disabled after three days of failures", endpoint.public_id)
    admins = db.session.scalars(
        sa.select(StaffUser.email).where(StaffUser.role == Role.ADMIN, StaffUser.active.is_(True))
    ).all()
    for email in admins:
        queue_email(
            to=email,
            template="webhook_disabled",
            language=current_app.config["BABEL_DEFAULT_LOCALE"],
            subject=_l("A webhook endpoint was switched off"),
            context={
                "url": endpoint.url,
                "since": endpoint.failing_since,
                "endpoint": endpoint.public_id,
            },
        )
