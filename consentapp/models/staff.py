"""Staff accounts and the few settings admins can change."""

from __future__ import annotations

import enum
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consentapp.models.base import Base, StrEnumType, utcnow


class Role(enum.StrEnum):
    """`admin` may do everything; `staff` works with contacts, inquiries and requests."""

    ADMIN = "admin"
    STAFF = "staff"


def new_session_token() -> str:
    """A random value that ties a login session to the account; rotating it logs out."""
    return secrets.token_urlsafe(24)


class StaffUser(Base):
    """A member of staff. Never deleted: the audit log refers to them; deactivate instead."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 16), default=Role.STAFF)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Failed logins since the last successful one or the last lock.
    failed_logins: Mapped[int] = mapped_column(default=0)
    # The latest lock: when it began and when it lifts by itself.
    locked_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    # Locks since the last successful login or unlock: each lasts twice the one before.
    lock_count: Mapped[int] = mapped_column(default=0)
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_last_step: Mapped[int | None]
    session_token: Mapped[str] = mapped_column(sa.String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The session refers to the account and its current session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_locked(self) -> bool:
        return self.locked_at_time(utcnow())

    def locked_at_time(self, now: datetime) -> bool:
        """Whether a lock holds at `now`: locks lift by themselves, so nobody can shut
        an account for good with wrong passwords."""
        return self.locked_until is not None and now < self.locked_until

    @property
    def has_totp(self) -> bool:
        return bool(self.totp_secret)

    @property
    def label(self) -> str:
        """How the account is named in lists and the audit log."""
        return f"{self.name} <{self.email}>" if self.name else self.email

    def __repr__(self) -> str:
        return f"<StaffUser {self.email} {self.role}>"


class Setting(Base):
    """A setting admins change at run time (as opposed to deployment configuration)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(500))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DashboardSnapshot(Base):
    """The dashboard's numbers as last computed by the worker (one row).

    Counting a million contacts and their subscriptions takes a few hundred
    milliseconds; the worker does it once a minute so the page reads one row.
    """

    __tablename__ = "dashboard_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    computed_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
