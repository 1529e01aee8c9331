"""Signed links: one itsdangerous serializer per purpose, each with its own salt.

Links are signed with SECRET_KEY and verified with it and SECRET_KEY_FALLBACKS, so a
key can be rotated without breaking links already mailed (the keys and the address hash
live in consentapp.keyring). A payload carries the contact's random public id and a
keyed hash of the address, never the address: when the address changes or the contact
is erased, every link issued before dies.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from consentapp.keyring import address_hash, address_matches, serializer_keys
from consentapp.models import Contact


class Purpose(enum.StrEnum):
    """What a link may be used for; a token for one purpose is refused for another."""

    CONFIRM = "subscribe-confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    PREFERENCES_REQUEST = "preferences-request"
    EMAIL_CHANGE = "email-change"
    IDENTITY = "identity-check"
    EXPORT = "data-export"
    # A newsletter link or open pixel for someone who agreed to personal statistics.
    CLICK = "personal-click"
    OPEN = "personal-open"
    WEB_VERSION = "web-version"  # a newsletter's "view in browser" link
    # "Yes, I still want it": one topic of one re-permission round, good until its deadline.
    STILL_WANTED = "still-wanted"


# None: the link does not expire (it dies with the address or the contact).
LIFETIMES: dict[Purpose, timedelta | None] = {
    Purpose.CONFIRM: timedelta(days=7),
    Purpose.UNSUBSCRIBE: None,
    Purpose.PREFERENCES: None,
    Purpose.PREFERENCES_REQUEST: timedelta(days=1),
    Purpose.EMAIL_CHANGE: timedelta(days=1),
    Purpose.IDENTITY: timedelta(days=1),
    Purpose.EXPORT: timedelta(hours=1),
    Purpose.CLICK: None,
    Purpose.OPEN: None,
    Purpose.WEB_VERSION: None,
    Purpose.STILL_WANTED: None,  # the round's own deadline decides
}


def lifetime_days(purpose: Purpose) -> int:
    """A link's lifetime in whole days, for the mails and pages that tell it."""
    lifetime = LIFETIMES[purpose]
    assert lifetime is not None, f"{purpose} links do not expire"
    return lifetime.days


def lifetime_hours(purpose: Purpose) -> int:
    """A link's lifetime in whole hours, for the mails and pages that tell it."""
    lifetime = LIFETIMES[purpose]
    assert lifetime is not None, f"{purpose} links do not expire"
    return int(lifetime.total_seconds() // 3600)


class TokenError(Exception):
    """A link that cannot be used."""


class TokenInvalid(TokenError):
    """Tampered, signed with an unknown key, for another purpose, or for an old address."""


class TokenExpired(TokenError):
    """Genuine but too old; `payload` lets the page offer a fresh link."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__("link expired")
        self.payload = payload


@dataclass(frozen=True)
class Token:
    """A verified link: its payload and when it was signed."""

    payload: dict[str, Any]
    issued_at: datetime

    @property
    def public_id(self) -> str:
        """The contact this link was made for."""
        return str(self.payload["c"])


def _serializer(purpose: Purpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(serializer_keys(), salt=f"consentapp.{purpose.value}")


def make_token(purpose: Purpose, contact: Contact, **extra: Any) -> str:
    """Sign a link for `contact`; `extra` adds purpose-specific fields."""
    payload = {"c": contact.public_id, "h": address_hash(contact.email or ""), **extra}
    return str(_serializer(purpose).dumps(payload))


def read_token(purpose: Purpose, token: str) -> Token:
    """Verify signature, purpose and age. Raises TokenInvalid or TokenExpired."""
    serializer = _serializer(purpose)
    lifetime = LIFETIMES[purpose]
    max_age = int(lifetime.total_seconds()) if lifetime else None
    try:
        payload, signed = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired as exc:
        # The signature was valid; only the age failed, so the payload can be trusted.
        if not isinstance(exc.payload, bytes):
            raise TokenInvalid("malformed expired payload") from exc
        try:
            expired = serializer.load_payload(exc.payload)
        except BadSignature as bad:
            raise TokenInvalid("malformed expired payload") from bad
        if not isinstance(expired, dict) or not isinstance(expired.get("c"), str):
            raise TokenInvalid("malformed expired payload") from exc
        raise TokenExpired(expired) from exc
    except BadSignature as exc:
        raise TokenInvalid("bad signature") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), str):
        raise TokenInvalid("malformed payload")
    return Token(payload=payload, issued_at=signed.astimezone(UTC))


def token_matches(token: Token, email: str | None) -> bool:
    """Whether a verified link was made for this address (not an older one)."""
    return address_matches(email, str(token.payload.get("h", "")))


def token_contact(token: Token, contact: Contact | None) -> Contact:
    """The contact a verified link belongs to, if it still has the link's address."""
    if contact is None or not token_matches(token, contact.email):
        raise TokenInvalid("contact gone or address changed")
    return contact
