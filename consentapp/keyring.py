"""The application's keys and the keyed digests made with them.

SECRET_KEY signs and digests; SECRET_KEY_FALLBACKS are older keys that still verify, so a
key can be rotated without breaking links already mailed or rows already stored.

An address digest is HMAC-SHA256 of the lower-cased address. Two are in use, and both
are mailed or stored, so neither may ever change: a link carries the first
ADDRESS_HASH_LENGTH hex digits of the address as given (`address_hash`); the suppression
list and data-subject requests keep all 64 of the address stripped of surrounding
spaces (`address_hmac`).
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

ADDRESS_HASH_LENGTH = 24


def signing_key() -> str:
    """The newest key: it signs links and makes every new digest."""
    return str(current_app.config["SECRET_KEY"])


def keys() -> list[str]:
    """Every key that still verifies, the signing key first."""
    return [signing_key(), *current_app.config["SECRET_KEY_FALLBACKS"]]


def serializer_keys() -> list[str]:
    """The same keys in the order itsdangerous takes them: it signs with the last."""
    return [*current_app.config["SECRET_KEY_FALLBACKS"], signing_key()]


def _digest(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def address_hash(email: str, key: str | None = None) -> str:
    """Keyed hash of an address: ties a link to the address without revealing it."""
    secret = key if key is not None else signing_key()
    return _digest(secret, email.lower())[:ADDRESS_HASH_LENGTH]


def address_matches(email: str | None, expected: str) -> bool:
    """Whether `expected` is this address's link hash under the current or an older key."""
    if not email:
        return False
    return any(hmac.compare_digest(address_hash(email, key), expected) for key in keys())


def address_hmac(email: str, key: str | None = None) -> str:
    """HMAC-SHA256 of the normalised address, as the suppression list and requests keep it."""
    secret = key if key is not None else signing_key()
    return _digest(secret, email.strip().lower())


def address_hmacs(email: str) -> list[str]:
    """The address's stored digest under the current key and every older one configured."""
    return [address_hmac(email, key) for key in keys()]


def fingerprint(text: str) -> str:
    """A keyed fingerprint of what staff typed (a search, say), kept instead of the text:
    the log shows that a search for something was made, never whom it named, and after
    an erasure nothing readable of the person remains. Whoever knows the text can check
    it with `flask --app wsgi audit-fingerprint TEXT`."""
    normalised = " ".join(text.split()).lower()
    # A key of its own, derived from SECRET_KEY, so fingerprints serve nothing else.
    key = hmac.new(signing_key().encode(), b"audit-fingerprint", hashlib.sha256).digest()
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


VERP_SIGNATURE_LENGTH = 12


def _verp_key(key: str) -> bytes:
    return hmac.new(key.encode(), b"verp", hashlib.sha256).digest()


def verp_signature(outbox_id: int, message_id: str, key: str | None = None) -> str:
    """The short signature in a mail's own envelope sender (`b+<id>.<signature>@...`),
    over the outbox id and the mail's Message-ID: a report to an address we did not
    make names no one, and an id used again by a later row (SQLite may reuse the
    highest one after a deletion) does not match. Lower-case hex, as mail servers may
    fold the case of a local part."""
    secret = key if key is not None else signing_key()
    text = f"{outbox_id}\n{message_id}".encode()
    return hmac.new(_verp_key(secret), text, hashlib.sha256).hexdigest()[:VERP_SIGNATURE_LENGTH]


def verp_signature_matches(outbox_id: int, message_id: str, signature: str) -> bool:
    """Whether `signature` is the outbox row's under the current or an older key."""
    given = signature.lower()
    return any(
        hmac.compare_digest(verp_signature(outbox_id, message_id, key), given) for key in keys()
    )


def altcha_key() -> str:
    """The key that signs proof-of-work challenges (derived: never the secret key itself)."""
    return hmac.new(signing_key().encode(), b"altcha", hashlib.sha256).hexdigest()
