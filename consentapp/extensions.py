"""Extension instances, created unbound and bound to the app in `create_app`."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from consentapp.models.base import Base


def client_address() -> str:
    """The client address as the WSGI server saw it (after a trusted ProxyFix only)."""
    return request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)


@sa.event.listens_for(sa.engine.Engine, "connect")
def tune_sqlite(connection: Any, record: Any) -> None:
    """SQLite: write-ahead log (the web app reads while the worker writes), durable
    against a crash of the app, a wait instead of "database is locked", and deleted
    content overwritten with zeros, so erased data does not linger in free pages."""
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


# A connection back in the pool for longer than this is tested before it is used again.
IDLE_PING_SECONDS = 5.0


@sa.event.listens_for(sa.pool.Pool, "checkin")
def note_checkin(connection: Any, record: Any) -> None:
    """Remember when the connection went back to the pool."""
    record.info["checked_in_at"] = time.monotonic()


@sa.event.listens_for(sa.pool.Pool, "checkout")
def ping_if_idle(connection: Any, record: Any, proxy: Any) -> None:
    """Test a connection that sat idle (the database may have restarted meanwhile):
    the pool then drops it and opens another. One in steady use is not tested: that
    would be a round trip for every request."""
    last = record.info.get("checked_in_at")
    if last is None or time.monotonic() - last < IDLE_PING_SECONDS:
        return  # just opened, or in steady use
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
    except Exception as error:  # the driver's own error types: any failure means gone
        raise sa.exc.DisconnectionError() from error


migrate = Migrate()
csrf = CSRFProtect()
mail = Mail()
babel = Babel()
limiter = Limiter(key_func=client_address)
login_manager = LoginManager()
