"""The audit log of staff access: a hash chain, so a changed or removed entry shows."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, utcnow

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """One stable text form for hashing: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def personal_digest(salt: str, client_address: str | None, details: Any) -> str:
    """SHA-256 over the salt and the entry's personal fields."""
    fields = {"client_address": client_address, "details": details}
    return hashlib.sha256((salt + canonical_json(fields)).encode("utf-8")).hexdigest()


class AuditEntry(Base):
    """Who did what to which record, when and from where.

    `entry_hash` = SHA-256 over the previous entry's hash and this entry's fields.
    The personal fields (client address and details) enter the hash only through
    `personal_sha256`, a digest of them salted with `personal_salt`, a random value of
    this entry alone. An erasure blanks the address, the details and the salt together
    and appends an `audit.redacted` entry naming the blanked entries: the chain still
    verifies, and without the salt nobody can test guesses (every IPv4 address, say)
    against the digest that stays.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        sa.Index("ix_audit_entries_target", "target_type", "target_id", "id"),
        sa.Index("ix_audit_entries_actor", "actor_id", "id"),
        sa.Index("ix_audit_entries_action", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(300), default="")
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    client_address: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    personal_salt: Mapped[str | None] = mapped_column(sa.String(32))
    personal_sha256: Mapped[str] = mapped_column(sa.String(64))
    redacted_at: Mapped[datetime | None]
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    def compute_hash(self) -> str:
        """The hash this entry must carry, given its fields and `prev_hash`."""
        fields = {
            "id": self.id,
            "occurred_at": self.occurred_at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "personal_sha256": self.personal_sha256,
        }
        material = self.prev_hash + canonical_json(fields)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    @property
    def blanked(self) -> bool:
        """Its personal fields were erased (the salt goes with them)."""
        return self.personal_salt is None

    def __repr__(self) -> str:
        return f"<AuditEntry {self.id} {self.action}>"


class AuditHead(Base):
    """One row: the newest entry's hash. Appending locks it, so the chain never forks,
    and removing the newest entries shows because the head no longer matches."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default=GENESIS_HASH)
