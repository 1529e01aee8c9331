"""Tokens that scripts and other systems use to call the REST API."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, utcnow

RESOURCES = (
    "contacts",
    "subscriptions",
    "topics",
    "ledger",
    "campaigns",
    "requests",
    "suppression",
)


class ApiScope(enum.StrEnum):
    """What a token may do: read or write one resource, or `admin` (campaign create
    and schedule)."""

    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    SUBSCRIPTIONS_READ = "subscriptions:read"
    SUBSCRIPTIONS_WRITE = "subscriptions:write"
    TOPICS_READ = "topics:read"
    TOPICS_WRITE = "topics:write"
    LEDGER_READ = "ledger:read"
    LEDGER_WRITE = "ledger:write"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    REQUESTS_READ = "requests:read"
    REQUESTS_WRITE = "requests:write"
    SUPPRESSION_READ = "suppression:read"
    SUPPRESSION_WRITE = "suppression:write"
    ADMIN = "admin"


class ApiToken(Base):
    """One API token. Only the SHA-256 of the secret is kept; `prefix` identifies it in
    lists and in the audit log. Never deleted (the audit log names it): revoke instead."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scopes: Mapped[str] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(200), default="")
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s for s in self.scopes.split(",") if s)

    @property
    def label(self) -> str:
        """How the audit log names the token."""
        return f"API token {self.prefix} ({self.name})"

    def usable_at(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or now < self.expires_at
