"""Writing and verifying the audit log (P2).

Entries are appended in the caller's transaction. Appending first updates the single
head row, which serialises writers: on PostgreSQL the row lock makes a second writer
wait and then read the newest hash, so the chain never forks; SQLite has one writer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_login import current_user

from consentapp.extensions import db
from consentapp.models import (
    GENESIS_HASH,
    AuditEntry,
    AuditHead,
    StaffUser,
    canonical_json,
    utcnow,
)

HEAD_ID = 1
VERIFY_BATCH = 1000


def fingerprint(text: str) -> str:
    """A keyed fingerprint of what staff typed (a search, say), kept instead of the text:
    the log shows that a search for something was made, never whom it named, and after
    an erasure nothing readable of the person remains. Whoever knows the text can check
    it with `flask --app wsgi audit-fingerprint TEXT`."""
    normalised = " ".join(text.split()).lower()
    # A key of its own, derived from SECRET_KEY, so fingerprints serve nothing else.
    key = hmac.new(
        current_app.config["SECRET_KEY"].encode(), b"audit-fingerprint", hashlib.sha256
    ).digest()
    return hmac.new(key, normalised.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def details_digest(details: dict[str, Any] | None) -> str:
    """SHA-256 of the details' canonical JSON (of `null` when there are none)."""
    return hashlib.sha256(canonical_json(details).encode("utf-8")).hexdigest()


def record(
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    actor: StaffUser | None = None,
) -> AuditEntry:
    """Append an entry for `actor` (default: the logged-in staff member). No commit."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()
    head = db.session.execute(
        sa.update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_id=AuditHead.last_id)
        .returning(AuditHead.last_hash)
    ).scalar_one()
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor_id=actor.id if actor else None,
        actor_label=actor.label if actor else "",
        action=action,
        target_type=target_type,
        target_id=target_id,
        client_address=request.remote_addr if has_request_context() else None,
        details=details,
        details_sha256=details_digest(details),
        prev_hash=head,
        entry_hash="",
    )
    db.session.add(entry)
    db.session.flush()
    entry.entry_hash = entry.compute_hash()
    db.session.execute(
        sa.update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_id=entry.id, last_hash=entry.entry_hash)
    )
    return entry


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: fine, or the first entry that breaks it."""

    checked: int
    head_hash: str
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None and self.problem is None


def _entries() -> Iterator[AuditEntry]:
    last = 0
    while True:
        batch = list(
            db.session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.id > last)
                .order_by(AuditEntry.id)
                .limit(VERIFY_BATCH)
            )
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].id
        db.session.expunge_all()


def verify_chain() -> ChainReport:
    """Recompute every hash in order; name the first entry that does not fit."""
    previous = GENESIS_HASH
    checked = 0
    last_id = 0
    for entry in _entries():
        if entry.prev_hash != previous:
            return ChainReport(checked, previous, entry.id, "does not follow the entry before it")
        if entry.compute_hash() != entry.entry_hash:
            return ChainReport(checked, previous, entry.id, "its content was changed")
        if entry.redacted_at is not None and entry.details is not None:
            return ChainReport(checked, previous, entry.id, "details under an erasure mark")
        if entry.redacted_at is None and details_digest(entry.details) != entry.details_sha256:
            return ChainReport(checked, previous, entry.id, "its details were changed")
        previous = entry.entry_hash
        last_id = entry.id
        checked += 1
    head = db.session.get(AuditHead, HEAD_ID)
    if head is None:
        return ChainReport(checked, previous, None, "the chain head is missing")
    if head.last_hash != previous or head.last_id != last_id:
        return ChainReport(
            checked,
            previous,
            head.last_id,
            "the newest entries were removed (the head names a later entry)",
        )
    return ChainReport(checked, previous)
