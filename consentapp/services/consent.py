"""Writing the consent ledger: one append-only row per event, with the notice shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Request

from consentapp.extensions import db
from consentapp.models import ConsentEvent, Contact, PrivacyNotice
from consentapp.services.outgoing_webhooks import emit_consent

USER_AGENT_LENGTH = 300


@dataclass(frozen=True)
class Origin:
    """Where a web event came from: the client address as the WSGI server saw it."""

    client_address: str | None
    user_agent: str | None

    @classmethod
    def from_request(cls, request: Request) -> Origin:
        """Take the address from the WSGI environ (ProxyFix only if configured)."""
        agent = request.user_agent.string[:USER_AGENT_LENGTH] or None
        return cls(client_address=request.remote_addr, user_agent=agent)


@dataclass(frozen=True)
class ConsentSource:
    """How a consent change reached us, as each ledger row it writes records it:
    one value passed down instead of the same five arguments at every step."""

    channel: str
    notice: PrivacyNotice | None
    origin: Origin | None = None
    evidence: str | None = None
    details: Mapping[str, object] | None = None


def record_consent(
    *,
    contact: Contact,
    purpose: str,
    action: str,
    channel: str,
    notice: PrivacyNotice | None,
    origin: Origin | None = None,
    topic_id: int | None = None,
    evidence: str | None = None,
    details: dict[str, Any] | None = None,
) -> ConsentEvent:
    """Append a ledger row in the caller's transaction."""
    event = ConsentEvent(
        subject_id=contact.public_id,
        purpose=purpose,
        action=action,
        channel=channel,
        topic_id=topic_id,
        notice_id=notice.id if notice else None,
        notice_version=notice.version if notice else None,
        notice_language=notice.language if notice else None,
        notice_sha256=notice.sha256 if notice else None,
        client_address=origin.client_address if origin else None,
        user_agent=origin.user_agent if origin else None,
        evidence=evidence,
        details=details,
    )
    db.session.add(event)
    emit_consent(purpose, action, contact.public_id, topic_id, details)
    return event
