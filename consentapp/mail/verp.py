"""Variable envelope return paths: each mail's own envelope sender at BOUNCE_DOMAIN,
`b+<outbox id>.<signature>@BOUNCE_DOMAIN`, so whatever comes back names the mail it
is about. The signature covers the outbox id and the mail's Message-ID, so it is
checked against the row it names (`keyring.verp_signature_matches`): a forged
address, or one whose row is gone, names nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from consentapp.keyring import verp_signature

_LOCAL_PART = re.compile(r"b\+(\d{1,18})\.([0-9a-fA-F]{4,64})")


def envelope_sender(outbox_id: int, message_id: str, domain: str) -> str:
    """The envelope sender (SMTP MAIL FROM, later Return-Path) of one outbox row."""
    return f"b+{outbox_id}.{verp_signature(outbox_id, message_id)}@{domain}"


@dataclass(frozen=True)
class VerpAddress:
    """A `b+...` address at BOUNCE_DOMAIN: the outbox row and signature it claims
    (None for a `b+` local part that is not ours in shape)."""

    outbox_id: int | None
    signature: str | None


def read_address(address: str, domain: str) -> VerpAddress | None:
    """None for an address that is not a VERP address at `domain` (postmaster@, say)."""
    local, _, at = address.strip().strip("<>").rpartition("@")
    if not local.lower().startswith("b+") or at.lower() != domain.lower():
        return None
    found = _LOCAL_PART.fullmatch(local)
    if found is None:
        return VerpAddress(outbox_id=None, signature=None)
    return VerpAddress(outbox_id=int(found.group(1)), signature=found.group(2))


def candidates(addresses: Iterable[str], domain: str) -> list[VerpAddress]:
    """The VERP addresses at `domain` among `addresses`, in order, each once."""
    found: list[VerpAddress] = []
    for address in addresses:
        verp = read_address(address, domain)
        if verp is not None and verp not in found:
            found.append(verp)
    return found
