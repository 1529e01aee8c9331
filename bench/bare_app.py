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

import datetime
import os
import sqlite3
from collections.abc import Callable

from flask import Flask, Response, request

PAGE = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Bare</title></head>'
    "<body><h1>Bare page</h1><p>A small page from a bare Flask app.</p></body></html>\n"
)
TABLE = "CREATE TABLE IF NOT EXISTS bench_hits (id INTEGER PRIMARY KEY, token TEXT NOT NULL)"
PG_TABLE = "CREATE TABLE IF NOT EXISTS bench_hits (id BIGSERIAL PRIMARY KEY, token TEXT NOT NULL)"
COUNTERS = (
    "CREATE TABLE IF NOT EXISTS bench_click_days (link_id INTEGER NOT NULL, day DATE NOT NULL, "
    "clicks INTEGER NOT NULL, PRIMARY KEY (link_id, day))"
)
TARGET = "https://example.org/landing?utm_source=newsletter"
UPSERT = (
    "INSERT INTO bench_click_days (link_id, day, clicks) VALUES ({0}, {1}, 1) "
    "ON CONFLICT (link_id, day) DO UPDATE SET clicks = bench_click_days.clicks + 1"
)


Writer = Callable[[str, object], None]


def sqlite_writer(path: str) -> Writer:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=10000")

    def write(statement: str, value: object) -> None:
        connection.execute("BEGIN IMMEDIATE")
        if statement == "hit":
            connection.execute("INSERT INTO bench_hits (token) VALUES (?)", (value,))
        else:
            day = datetime.date.today().isoformat()
            connection.execute(UPSERT.format("?", "?"), (value, day))
        connection.execute("COMMIT")

    return write


def postgres_writer(conninfo: str) -> Writer:
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(conninfo, min_size=1, max_size=2, open=True)

    def write(statement: str, value: object) -> None:
        with pool.connection() as connection:
            if statement == "hit":
                connection.execute("INSERT INTO bench_hits (token) VALUES (%s)", (value,))
            else:
                day = datetime.date.today()
                connection.execute(UPSERT.format("%s", "%s"), (value, day))

    return write


def create() -> Flask:
    """The app gunicorn serves; each worker opens its own connection or pool."""
    app = Flask("bare")
    if os.environ.get("BARE_POSTGRES"):
        write = postgres_writer(os.environ["BARE_POSTGRES"])
    else:
        write = sqlite_writer(os.environ["BARE_SQLITE"])

    @app.get("/")
    def page() -> str:
        return PAGE

    @app.post("/insert")
    def insert_one() -> str:
        write("hit", request.form["token"])
        return "<!doctype html>\n<p>Stored.</p>\n"

    @app.get("/redirect")
    def redirect_only() -> Response:
        return moved()

    @app.get("/redirect/count")
    def redirect_counted() -> Response:
        write("count", int(request.args["link"]))
        return moved()

    return app


def moved() -> Response:
    response = Response(status=302)
    response.headers["Location"] = TARGET
    response.headers["Cache-Control"] = "no-store"
    return response
