"""Addresses that must not be added again by staff or imports (after erasure or objection)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, utcnow


class Suppression(Base):
    """A keyed hash (HMAC with the secret key) of an address, never the address itself."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hmac: Mapped[str] = mapped_column(sa.String(64), unique=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
