"""The suppression list: keyed hashes of addresses that staff and imports may not add
back (after an erasure or an objection). The person's own double opt-in lifts it."""

from __future__ import annotations

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.keyring import address_hmac, address_hmacs
from consentapp.models import Suppression


class Suppressed(Exception):
    """The address is on the suppression list."""


def _entries(email: str) -> list[Suppression]:
    """Entries for this address, under the current key or an older one still configured."""
    digests = address_hmacs(email)
    return list(
        db.session.scalars(sa.select(Suppression).where(Suppression.address_hmac.in_(digests)))
    )


def is_suppressed(email: str) -> bool:
    """Whether staff and imports must leave this address alone."""
    return bool(_entries(email))


def check_not_suppressed(email: str) -> None:
    """Raise Suppressed for an address on the list."""
    if is_suppressed(email):
        raise Suppressed(email)


def suppress(email: str, reason: str) -> None:
    """Put an address on the list (idempotent). The caller commits."""
    if not is_suppressed(email):
        db.session.add(Suppression(address_hmac=address_hmac(email), reason=reason))


def lift(email: str) -> bool:
    """Remove an address from the list (the person's own new opt-in). The caller commits."""
    entries = _entries(email)
    for entry in entries:
        db.session.delete(entry)
    return bool(entries)
