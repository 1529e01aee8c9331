"""Variable envelope return paths: each mail's own envelope sender at BOUNCE_DOMAIN,
`b+<outbox id>.<signature>@BOUNCE_DOMAIN`, so whatever comes back names the mail it
is about, and a forged report names nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from consentapp.keyring import verp_signature, verp_signature_matches

_LOCAL_PART = re.compile(r"b\+(\d{1,18})\.([0-9a-fA-F]{4,64})")


def envelope_sender(outbox_id: int, domain: str) -> str:
    """The envelope sender (SMTP MAIL FROM, later Return-Path) of one outbox row."""
    return f"b+{outbox_id}.{verp_signature(outbox_id)}@{domain}"


@dataclass(frozen=True)
class VerpAddress:
    """What an address at BOUNCE_DOMAIN says: the outbox row, or that it was forged."""

    outbox_id: int | None
    forged: bool


def read_address(address: str, domain: str) -> VerpAddress | None:
    """None for an address that is not a VERP address at `domain` (postmaster@, say)."""
    local, _, at = address.strip().strip("<>").rpartition("@")
    if not local.lower().startswith("b+") or at.lower() != domain.lower():
        return None
    found = _LOCAL_PART.fullmatch(local)
    if found is None:
        return VerpAddress(outbox_id=None, forged=True)
    outbox_id = int(found.group(1))
    if not verp_signature_matches(outbox_id, found.group(2)):
        return VerpAddress(outbox_id=None, forged=True)
    return VerpAddress(outbox_id=outbox_id, forged=False)


def first_match(addresses: Iterable[str], domain: str) -> VerpAddress | None:
    """The first of `addresses` that is a valid VERP address at `domain`; else a forged
    one if any was seen; else None."""
    forged: VerpAddress | None = None
    for address in addresses:
        found = read_address(address, domain)
        if found is None:
            continue
        if not found.forged:
            return found
        forged = found
    return forged
