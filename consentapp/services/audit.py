"""Writing and verifying the audit log (P2).

Entries are appended in the caller's transaction. Appending first updates the single
head row, which serialises writers: on PostgreSQL the row lock makes a second writer
wait and then read the newest hash, so the chain never forks; SQLite has one writer.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user

from consentapp.extensions import db
from consentapp.models import (
    GENESIS_HASH,
    ApiToken,
    AuditEntry,
    AuditHead,
    StaffUser,
    utcnow,
)
from consentapp.models.audit import personal_digest

HEAD_ID = 1
VERIFY_BATCH = 1000
REDACTION = "audit.redacted"
REDACT_BATCH = 500


def record(
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    actor: StaffUser | ApiToken | None = None,
    keep_address: bool = True,
    actor_label: str | None = None,
) -> AuditEntry:
    """Append an entry for `actor` (default: the logged-in staff member). No commit.

    `actor_label` names an actor that is not a staff account; an API token as `actor`
    is named by its label.

    `keep_address=False` leaves out the client address: for what a person does while
    erasing themselves, whose address must not outlive the erasure.
    """
    if (
        actor is None
        and actor_label is None
        and has_request_context()
        and current_user.is_authenticated
    ):
        actor = current_user._get_current_object()
    head = db.session.execute(
        sa.update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_id=AuditHead.last_id)
        .returning(AuditHead.last_hash)
    ).scalar_one()
    address = request.remote_addr if keep_address and has_request_context() else None
    salt = secrets.token_hex(16)
    entry = AuditEntry(
        occurred_at=utcnow(),
        actor_id=actor.id if isinstance(actor, StaffUser) else None,
        actor_label=actor.label if actor else (actor_label or ""),
        action=action,
        target_type=target_type,
        target_id=target_id,
        client_address=address,
        details=details,
        personal_salt=salt,
        personal_sha256=personal_digest(salt, address, details),
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


def actor_name(actor: StaffUser | ApiToken) -> str:
    """Who did it, as ledger details name them: a staff address or a token's label."""
    return actor.email if isinstance(actor, StaffUser) else actor.label


def redact(which: sa.ColumnElement[bool], reason: str, actor: StaffUser | None = None) -> list[int]:
    """Blank the client address and details of the entries `which` selects, and append
    the `audit.redacted` entry that names them (why, and which ids). No commit.

    Verification accepts a blanked entry only when a later redaction entry names it.
    Redaction entries themselves are never redacted: they hold ids, not personal data.
    """
    ids = list(
        db.session.scalars(
            sa.select(AuditEntry.id)
            .where(which, AuditEntry.personal_salt.is_not(None), AuditEntry.action != REDACTION)
            .order_by(AuditEntry.id)
        )
    )
    if not ids:
        return []
    now = utcnow()
    for start in range(0, len(ids), REDACT_BATCH):
        db.session.execute(
            sa.update(AuditEntry)
            .where(AuditEntry.id.in_(ids[start : start + REDACT_BATCH]))
            .values(client_address=None, details=None, personal_salt=None, redacted_at=now),
            execution_options={"synchronize_session": False},
        )
    record(
        REDACTION,
        target_type="audit",
        details={"entries": ids, "reason": reason},
        actor=actor,
        keep_address=actor is not None,
    )
    return ids


def redacted_ids(entry: AuditEntry) -> set[int]:
    """The earlier entries a redaction entry names."""
    if entry.action != REDACTION or not isinstance(entry.details, dict):
        return set()
    named = entry.details.get("entries")
    if not isinstance(named, list):
        return set()
    return {i for i in named if isinstance(i, int) and i < entry.id}


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


def _problem(entry: AuditEntry, previous: str) -> str | None:
    """What is wrong with one entry on its own, if anything."""
    if entry.prev_hash != previous:
        return "does not follow the entry before it"
    if entry.compute_hash() != entry.entry_hash:
        return "its content was changed"
    if entry.personal_salt is None:
        if entry.client_address is not None or entry.details is not None:
            return "details under an erasure mark"
        return None
    if entry.redacted_at is not None:
        return "an erasure mark on kept details"
    if personal_digest(entry.personal_salt, entry.client_address, entry.details) != (
        entry.personal_sha256
    ):
        return "its details were changed"
    return None


def verify_chain() -> ChainReport:
    """Recompute every hash in order; name the first entry that does not fit.

    A blanked entry (no salt) must hold no personal field and be named by a later
    `audit.redacted` entry that itself verifies; the first one that is not is named.
    """
    previous = GENESIS_HASH
    checked = 0
    last_id = 0
    blanked: list[int] = []
    covered: set[int] = set()
    for entry in _entries():
        problem = _problem(entry, previous)
        if problem:
            return ChainReport(checked, previous, entry.id, problem)
        if entry.blanked:
            blanked.append(entry.id)
        covered |= redacted_ids(entry)
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
    uncovered = [i for i in blanked if i not in covered]
    if uncovered:
        return ChainReport(
            checked, previous, uncovered[0], "blanked, but no redaction entry names it"
        )
    return ChainReport(checked, previous)
