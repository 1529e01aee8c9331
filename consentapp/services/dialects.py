"""INSERT … ON CONFLICT for the database in use: SQLAlchemy spells it the same way for
PostgreSQL and SQLite, from each dialect's own `insert`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from consentapp.extensions import db

UpsertableInsert = postgresql.Insert | sqlite.Insert


def dialect_insert(table: Any, dialect_name: str | None = None) -> UpsertableInsert:
    """An INSERT into `table` that takes `on_conflict_do_nothing` / `_do_update`, for the
    session's database (or the one named)."""
    name = dialect_name or db.session.get_bind().dialect.name
    return postgresql.insert(table) if name == "postgresql" else sqlite.insert(table)
