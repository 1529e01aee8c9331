"""What Gmail and Yahoo ask of bulk senders, checked against the configuration at start:
a DKIM signature aligned with the From domain, and an envelope sender (BOUNCE_DOMAIN)
that SPF can align with it for DMARC."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

log = logging.getLogger(__name__)


def aligned(domain: str, sender_domain: str) -> bool:
    """DMARC relaxed alignment, approximated without the public suffix list: the same
    domain, or one inside the other (bounces.crm.be and crm.be align)."""
    a, b = domain.lower().rstrip("."), sender_domain.lower().rstrip(".")
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def alignment_warnings(config: Mapping[str, Any]) -> list[str]:
    """What an operator should fix before sending bulk mail."""
    sender = config["MAIL_DEFAULT_SENDER"]
    address = sender[1] if isinstance(sender, tuple) else parseaddr(str(sender))[1]
    sender_domain = address.rpartition("@")[2]
    dkim_domain, bounce_domain = config["DKIM_DOMAIN"], config["BOUNCE_DOMAIN"]
    found = []
    if not dkim_domain:
        found.append(
            "DKIM_DOMAIN is not set: mail goes out unsigned, and Gmail and Yahoo refuse or "
            f"file as spam bulk mail without a DKIM signature aligned with {sender_domain}."
        )
    elif not aligned(dkim_domain, sender_domain):
        found.append(
            f"DKIM_DOMAIN {dkim_domain} is not aligned with the From domain {sender_domain}: "
            "DMARC passes only when the signing domain is the From domain or shares it."
        )
    if bounce_domain and not aligned(bounce_domain, sender_domain):
        found.append(
            f"BOUNCE_DOMAIN {bounce_domain} is not within the From domain {sender_domain}, so "
            f"SPF cannot align for DMARC: use a subdomain such as bounces.{sender_domain}."
        )
    if not bounce_domain:
        found.append(
            "BOUNCE_DOMAIN is not set: bounces are matched only by Message-ID, and mail "
            "servers that return no headers leave dead addresses on the list."
        )
    return found


def warn_about_alignment(config: Mapping[str, Any]) -> None:
    for warning in alignment_warnings(config):
        log.warning(warning)
