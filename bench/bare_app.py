"""The baseline of bench/load.py: a bare Flask app under the same gunicorn settings as
consentapp (`gunicorn -w 2 'bench.bare_app:create()'`).

- `GET /` answers a small HTML page (next to consentapp's home page).
- `POST /insert` takes a form field `token` and inserts one row into `bench_hits`, then
  commits (next to the one-click unsubscribe): on SQLite over one sqlite3 connection per
  worker process (WAL, `synchronous=NORMAL`, as consentapp sets it), on PostgreSQL
  through a psycopg_pool connection pool per worker process.

`BARE_SQLITE` (a file) or `BARE_POSTGRES` (a conninfo) says where; the table is made by
the benchmark before the workers start.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from flask import Flask, request

PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Bare</title></head>'
    "<body><h1>Bare page</h1><p>A small page from a bare Flask app.</p></body></html>\n"
)
TABLE = "CREATE TABLE IF NOT EXISTS bench_hits (id INTEGER PRIMARY KEY, token TEXT NOT NULL)"
PG_TABLE = "CREATE TABLE IF NOT EXISTS bench_hits (id BIGSERIAL PRIMARY KEY, token TEXT NOT NULL)"


def sqlite_inserter(path: str) -> Callable[[str], None]:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=10000")

    def insert(token: str) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO bench_hits (token) VALUES (?)", (token,))
        connection.execute("COMMIT")

    return insert


def postgres_inserter(conninfo: str) -> Callable[[str], None]:
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(conninfo, min_size=1, max_size=2, open=True)

    def insert(token: str) -> None:
        with pool.connection() as connection:
            connection.execute("INSERT INTO bench_hits (token) VALUES (%s)", (token,))

    return insert


def create() -> Flask:
    """The app gunicorn serves; each worker opens its own connection or pool."""
    app = Flask("bare")
    if os.environ.get("BARE_POSTGRES"):
        insert = postgres_inserter(os.environ["BARE_POSTGRES"])
    else:
        insert = sqlite_inserter(os.environ["BARE_SQLITE"])

    @app.get("/")
    def page() -> str:
        return PAGE

    @app.post("/insert")
    def insert_one() -> str:
        insert(request.form["token"])
        return "<!doctype html>\n<p>Stored.</p>\n"

    return app
