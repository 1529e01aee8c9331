"""Is this request really from the provider? One check per provider, each with the
secret the operator configured; anything unsigned, wrongly signed or stale is refused.

Secrets are compared in constant time. Timestamps older than the tolerance, or as far
in the future, are refused, so a captured request cannot be replayed later; Mailgun's
tokens are also remembered for that window (in this process, bounded), so it cannot be
replayed within it either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from werkzeug.datastructures import Authorization, Headers

from consentapp.config import ConfigError

# The setting that switches each provider on (and holds its secret).
SETTINGS = {
    "ses": "BOUNCE_WEBHOOK_SES_TOPIC_ARNS",
    "postmark": "BOUNCE_WEBHOOK_POSTMARK_SECRET",
    "sendgrid": "BOUNCE_WEBHOOK_SENDGRID_KEY",
    "mailgun": "BOUNCE_WEBHOOK_MAILGUN_KEY",
    "generic": "BOUNCE_WEBHOOK_SECRET",
}
SENDGRID_SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
SENDGRID_TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
STANDARD_PREFIX = "whsec_"


class Refused(Exception):
    """Not signed by the provider (or signed too long ago): the answer is a 401."""


@dataclass(frozen=True)
class Incoming:
    """What a check may look at: the raw body, its JSON, the headers, the settings."""

    body: bytes
    data: Any
    headers: Headers
    authorization: Authorization | None
    config: Mapping[str, Any]
    now: float = field(default_factory=time.time)

    @property
    def tolerance(self) -> int:
        return int(self.config["BOUNCE_WEBHOOK_TOLERANCE_SECONDS"])


def configured(provider: str, config: Mapping[str, Any]) -> bool:
    """A provider without its secret is switched off (its URL answers 404)."""
    setting = SETTINGS.get(provider)
    return bool(setting and config.get(setting))


def check_settings(config: Mapping[str, Any]) -> None:
    """Refuse to start with a secret that can never verify anything."""
    key = config.get("BOUNCE_WEBHOOK_SENDGRID_KEY")
    if key:
        try:
            sendgrid_key(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "BOUNCE_WEBHOOK_SENDGRID_KEY must be the base64 public key SendGrid shows "
                "(an ECDSA P-256 key)"
            ) from exc
    secret = config.get("BOUNCE_WEBHOOK_SECRET")
    if secret:
        try:
            standard_key(secret)
        except ValueError as exc:
            raise ConfigError(f"BOUNCE_WEBHOOK_SECRET {exc}") from exc


def check_fresh(timestamp: str | None, incoming: Incoming) -> None:
    """A Unix timestamp within the tolerance of now, either way."""
    try:
        moment = float((timestamp or "").strip())
    except ValueError:
        raise Refused("the request carries no valid timestamp") from None
    if not abs(incoming.now - moment) <= incoming.tolerance:  # NaN is refused too
        raise Refused("the request's timestamp is outside the accepted window")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


# --- Postmark: HTTP Basic authentication ---------------------------------------------


def verify_postmark(incoming: Incoming) -> None:
    """The password (or `user:password`) from BOUNCE_WEBHOOK_POSTMARK_SECRET, as
    Postmark sends it when the webhook URL carries credentials."""
    secret: str = incoming.config["BOUNCE_WEBHOOK_POSTMARK_SECRET"]
    auth = incoming.authorization
    if auth is None or auth.type != "basic":
        raise Refused("HTTP Basic authentication is required")
    given = f"{auth.username or ''}:{auth.password or ''}" if ":" in secret else auth.password
    if not _same(given or "", secret):
        raise Refused("wrong credentials")


# --- SendGrid: ECDSA over timestamp + body -------------------------------------------


@lru_cache(maxsize=4)
def sendgrid_key(encoded: str) -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(base64.b64decode(encoded.strip(), validate=True))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic curve key")
    return key


def verify_sendgrid(incoming: Incoming) -> None:
    """SendGrid's signed event webhook: ECDSA P-256 with SHA-256, base64 in a header."""
    signature = incoming.headers.get(SENDGRID_SIGNATURE, "")
    timestamp = incoming.headers.get(SENDGRID_TIMESTAMP, "")
    if not signature or not timestamp:
        raise Refused(f"{SENDGRID_SIGNATURE} and {SENDGRID_TIMESTAMP} are required")
    check_fresh(timestamp, incoming)
    key = sendgrid_key(incoming.config["BOUNCE_WEBHOOK_SENDGRID_KEY"])
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, timestamp.encode() + incoming.body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("the signature does not match") from None


# --- Mailgun: HMAC-SHA256 of timestamp + token, tokens used once ----------------------


class SeenTokens:
    """Tokens seen within the tolerance window, so a signed request is taken once.

    In this process only, and bounded: with several processes a replay could reach
    another one within the window; the report id still makes it count once.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, token: str, now: float, window: float) -> bool:
        with self._lock:
            while self._expiry and next(iter(self._expiry.values())) < now:
                self._expiry.popitem(last=False)
            if token in self._expiry:
                return False
            self._expiry[token] = now + 2 * window  # as far as a timestamp may lie ahead
            if len(self._expiry) > self.limit:
                self._expiry.popitem(last=False)
            return True


MAILGUN_TOKENS = SeenTokens()


def verify_mailgun(incoming: Incoming) -> None:
    """Mailgun signs inside the body: {"signature": {timestamp, token, signature}}."""
    block = incoming.data.get("signature") if isinstance(incoming.data, dict) else None
    if not isinstance(block, dict):
        raise Refused("the payload carries no signature")
    timestamp, token, signature = (block.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str | int) and str(v) for v in (timestamp, token, signature)):
        raise Refused("the signature is incomplete")
    timestamp, token = str(timestamp), str(token)
    check_fresh(timestamp, incoming)
    key = incoming.config["BOUNCE_WEBHOOK_MAILGUN_KEY"].encode()
    expected = hmac.new(key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not _same(str(signature).lower(), expected):
        raise Refused("the signature does not match")
    if not MAILGUN_TOKENS.first_use(token, incoming.now, incoming.tolerance):
        raise Refused("this request was received before (replay)")


# --- ours: Standard Webhooks ---------------------------------------------------------


def standard_key(secret: str) -> bytes:
    """The HMAC key in a "whsec_<base64>" secret."""
    if not secret.startswith(STANDARD_PREFIX):
        raise ValueError('must start with "whsec_" followed by the base64 key')
    try:
        key = base64.b64decode(secret[len(STANDARD_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("is not valid base64 after whsec_") from exc
    if len(key) < 24:
        raise ValueError("is too short: use at least 24 random bytes")
    return key


def verify_standard(incoming: Incoming) -> None:
    """https://www.standardwebhooks.com: HMAC-SHA256 of "id.timestamp.body", base64, in
    `webhook-signature` as "v1,<signature>"; several, space-separated, while keys rotate."""
    headers = incoming.headers
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        raise Refused("webhook-id, webhook-timestamp and webhook-signature are required")
    check_fresh(timestamp, incoming)
    key = standard_key(incoming.config["BOUNCE_WEBHOOK_SECRET"])
    signed = f"{message_id}.{timestamp}.".encode() + incoming.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and _same(value, expected):
            return
    raise Refused("the signature does not match")


Verifier = Callable[[Incoming], None]
