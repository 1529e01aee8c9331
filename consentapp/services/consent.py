"""Writing the consent ledger: one append-only row per event, with the notice shown."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

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


class NoticeVersion(Protocol):
    """What a ledger row copies of the notice shown: a stored version or a row read."""

    @property
    def id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def language(self) -> str: ...
    @property
    def sha256(self) -> str: ...


def ledger_values(
    *,
    subject_id: str,
    purpose: str,
    action: str,
    channel: str,
    notice: NoticeVersion | None,
    origin: Origin | None = None,
    topic_id: int | None = None,
    evidence: str | None = None,
    details: Mapping[str, object] | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """The columns of one ledger row, for the ORM and for a bulk INSERT alike; without
    `occurred_at` the row takes the time it is written."""
    values: dict[str, Any] = {
        "subject_id": subject_id,
        "purpose": purpose,
        "action": action,
        "channel": channel,
        "topic_id": topic_id,
        "notice_id": notice.id if notice else None,
        "notice_version": notice.version if notice else None,
        "notice_language": notice.language if notice else None,
        "notice_sha256": notice.sha256 if notice else None,
        "client_address": origin.client_address if origin else None,
        "user_agent": origin.user_agent if origin else None,
        "evidence": evidence,
        "details": details,
    }
    if occurred_at is not None:
        values["occurred_at"] = occurred_at
    return values


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
        **ledger_values(
            subject_id=contact.public_id,
            purpose=purpose,
            action=action,
            channel=channel,
            notice=notice,
            origin=origin,
            topic_id=topic_id,
            evidence=evidence,
            details=details,
        )
    )
    db.session.add(event)
    emit_consent(purpose, action, contact.public_id, topic_id, details)
    return event
