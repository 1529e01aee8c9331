"""Declarative base, column types and small helpers shared by every model."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores naive UTC, hands out aware UTC, on SQLite and PostgreSQL alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


E = TypeVar("E", bound=enum.StrEnum)


class StrEnumType(sa.types.TypeDecorator[E]):
    """A status or kind column: stored as its plain string value (no database enum
    type, so adding a member needs no migration), handed out as the enum member.

    Binding accepts members and plain strings alike, so a filter typed in a URL that
    names no member simply matches nothing; what gets written is kept to members by
    the `Mapped[...]` types.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, enum_class: type[E], length: int) -> None:
        super().__init__(length)
        self.enum_class = enum_class

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum_class(value)


class Base(DeclarativeBase):
    """Base for every model; constraint names are stable for migrations."""

    registry = registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


def utcnow() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(UTC)


def new_public_id() -> str:
    """A random, URL-safe identifier that reveals nothing about the row it names. It
    starts with a letter or digit: an id beginning with "-" would read as an option on
    a command line and get a formula guard in a CSV export."""
    while True:
        candidate = secrets.token_urlsafe(16)
        if candidate[0].isalnum():
            return candidate


# Indexes the migrations create on one database only, outside the models: PostgreSQL's
# trigram index for contact search. Schema comparisons leave them out.
DATABASE_ONLY_INDEXES = frozenset({"ix_contacts_search_trgm"})
# The same on SQLite: the FTS5 table for contact search (migration 0013) and the
# tables FTS5 keeps it in (`contacts_search_data`, `_idx`, `_docsize`, `_config`).
DATABASE_ONLY_TABLE_PREFIX = "contacts_search"


def in_models(name: str | None, type_: str, parent_names: object) -> bool:
    """`include_name` hook for Alembic: False for the database-only indexes and tables."""
    if type_ == "table" and name is not None and name.startswith(DATABASE_ONLY_TABLE_PREFIX):
        return False
    return not (type_ == "index" and name in DATABASE_ONLY_INDEXES)
