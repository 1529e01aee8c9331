"""How fast the staff dashboard and contact list answer with a million contacts.

    .venv/bin/python -m bench.dashboard [--contacts 1000000] [--backends sqlite,postgresql]

Fills a fresh database (migrated as in production) with N contacts, 1.5 subscriptions
and 2 ledger rows per contact on average, then times the staff pages through the
real app: the dashboard, the first contact page, a search and a filter; on SQLite
also the merge of the search's trigram table that follows an erasure. Prints a
table and writes it to bench/RESULTS-dashboard.md. Not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from consentapp import create_app  # noqa: E402
from consentapp.config import TestingConfig  # noqa: E402
from consentapp.extensions import db  # noqa: E402
from consentapp.models import Contact  # noqa: E402
from consentapp.seed import seed_notice, seed_topics  # noqa: E402
from consentapp.services.contact_search import (  # noqa: E402
    merge_index,
    search_term,
    text_filter,
)
from consentapp.services.dashboard import refresh_snapshot  # noqa: E402
from consentapp.services.staff_accounts import create_staff  # noqa: E402
from tests.services import PostgresServer, find_postgres_bindir  # noqa: E402

PASSWORD = "benchmark-password-123"
RUNS = 7
SEARCH = "person4242@"


def make_app(url: str, instance: Path) -> Flask:
    config = TestingConfig(
        {
            "DATABASE_URL": url,
            "CONSENTAPP_INSTANCE": str(instance),
            "RATELIMIT_ENABLED": "false",
            "DASHBOARD_MAX_AGE_SECONDS": "3600",
        }
    )
    return create_app(config)


def fill(app: Flask, contacts: int) -> float:
    """Generate the data in SQL on the server side; returns seconds taken."""
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        seed_topics()
        seed_notice()
        create_staff("bench@crm.example", "admin", PASSWORD)
        db.session.commit()
        dialect = db.engine.dialect.name
        series = (
            f"SELECT generate_series(1, {contacts}) AS n"
            if dialect == "postgresql"
            else f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {contacts}) SELECT n FROM s"
        )
        now = "now()" if dialect == "postgresql" else "datetime('now')"
        back = (
            "now() - (n % 120) * interval '1 day'"
            if dialect == "postgresql"
            else "datetime('now', '-' || (n % 120) || ' days')"
        )
        concat = "'person' || n || '@example.be'"
        statements = [
            f"""INSERT INTO contacts (public_id, email, name, company, address, phone, fax,
                    language, source_channel, created_at, updated_at, search_text)
                SELECT 'p' || n, {concat}, 'Person ' || n, 'Company ' || (n % 5000), '', '', '',
                    'nl', 'web_form', {back}, {now},
                    'person ' || n || ' ' || {concat} || ' company ' || (n % 5000)
                FROM ({series}) AS g""",
            f"""INSERT INTO subscriptions (contact_id, topic_id, status, requested_at, confirmed_at,
                    unsubscribed_at, updated_at)
                SELECT n, 1 + (n % 3),
                    CASE WHEN n % 10 = 0 THEN 'pending' WHEN n % 7 = 0 THEN 'unsubscribed'
                         ELSE 'confirmed' END,
                    {back}, {back}, NULL, {now} FROM ({series}) AS g""",
            f"""INSERT INTO subscriptions (contact_id, topic_id, status, requested_at, confirmed_at,
                    unsubscribed_at, updated_at)
                SELECT n, 1 + ((n + 1) % 3), 'confirmed', {back}, {back}, NULL, {now}
                FROM ({series}) AS g WHERE n % 2 = 0""",
            f"""INSERT INTO consent_events (occurred_at, subject_id, purpose, topic_id, action, channel)
                SELECT {back}, 'p' || n, 'newsletter', 1 + (n % 3),
                    CASE WHEN n % 7 = 0 THEN 'withdrawn' ELSE 'confirmed' END, 'web_form'
                FROM ({series}) AS g""",
            f"""INSERT INTO consent_events (occurred_at, subject_id, purpose, topic_id, action, channel)
                SELECT {back}, 'p' || n, 'contact', NULL, 'given', 'web_form' FROM ({series}) AS g""",
            f"""INSERT INTO inquiries (public_id, contact_id, message, submitted, status, language,
                    channel, created_at, updated_at)
                SELECT 'i' || n, n, 'Question ' || n, '{{}}', CASE WHEN n % 3 = 0 THEN 'done' ELSE 'new' END,
                    'nl', 'web_form', {back}, {now} FROM ({series}) AS g WHERE n % 50 = 0""",
        ]
        for statement in statements:
            db.session.execute(sa.text(statement))
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
    return time.perf_counter() - started


def timed(call: Callable[[], object]) -> tuple[float, float]:
    """Median and worst of RUNS calls, in milliseconds (after one warm-up call)."""
    call()
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def measure(app: Flask) -> list[tuple[str, float, float]]:
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/staff/login",
        data={"csrf_token": token, "email": "bench@crm.example", "password": PASSWORD},
    )
    assert response.status_code == 302, response.status_code

    def get(url: str) -> Callable[[], object]:
        def call() -> object:
            result = client.get(url)
            assert result.status_code == 200, (url, result.status_code)
            return result

        return call

    def recount() -> object:
        with app.app_context():
            return refresh_snapshot()

    def search_filter() -> sa.ColumnElement[bool]:
        found = text_filter(SEARCH)
        assert found is not None, "a search text always filters"
        return found

    def count(condition: Callable[[], sa.ColumnElement[bool]]) -> Callable[[], object]:
        def call() -> object:
            with app.app_context():
                statement = sa.select(sa.func.count(Contact.id)).where(condition())
                return db.session.scalar(statement)

        return call

    term = search_term(SEARCH)
    rows: list[tuple[str, float, float]] = [
        (
            f"search query alone: `LIKE '%{term}%'` (the rule, no index)",
            *timed(count(lambda: Contact.search_text.like(f"%{term}%"))),
        ),
        (
            "search query alone: `text_filter` (what the page runs)",
            *timed(count(search_filter)),
        ),
    ]
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        changed = iter(range(1, RUNS + 2))

        def merge_after_change() -> object:
            # What an erasure adds on SQLite: one contact's search text goes, then the
            # trigram table is merged so that its entries go too (storage_scrub).
            with app.app_context(), db.engine.begin() as connection:
                connection.execute(
                    sa.text("UPDATE contacts SET search_text = '' WHERE id = :id"),
                    {"id": next(changed)},
                )
                merge_index(connection)
            return None

        rows.append(("erasure: merge the search index after it", *timed(merge_after_change)))
    return [
        ("worker: recount the dashboard numbers", *timed(recount)),
        ("dashboard /staff/ (reads the recount)", *timed(get("/staff/"))),
        ("contacts, first page", *timed(get("/staff/contacts"))),
        ("contacts, page 200", *timed(get("/staff/contacts?page=200"))),
        ("contacts, search 'person 4242'", *timed(get(f"/staff/contacts?q={SEARCH}"))),
        (
            "contacts, topic + status filter",
            *timed(get("/staff/contacts?topic=service-news&status=pending")),
        ),
        *rows,
    ]


def run_backend(name: str, contacts: int, work: Path) -> list[str]:
    server = None
    if name == "sqlite":
        url = f"sqlite:///{work / 'bench.sqlite3'}"
    else:
        bindir = find_postgres_bindir()
        if bindir is None:
            return [f"| {name} | PostgreSQL not installed | | |"]
        server = PostgresServer(bindir)
        server.start()
        url = server.create_database("bench")
    try:
        app = make_app(url, work / f"instance-{name}")
        seconds = fill(app, contacts)
        print(f"{name}: filled {contacts:,} contacts in {seconds:.0f} s", flush=True)
        rows = measure(app)
        with app.app_context():
            db.engine.dispose()
    finally:
        if server is not None:
            server.stop()
    return [f"| {name} | {what} | {median:.1f} | {worst:.1f} |" for what, median, worst in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    lines = [
        f"# Staff pages with {args.contacts:,} contacts",
        "",
        f"Median and worst of {RUNS} requests through the app (Flask test client), in ms.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. "
        "PostgreSQL is a throw-away server started by the benchmark (fsync off).",
        "",
        f"Command: `.venv/bin/python -m bench.dashboard --contacts {args.contacts} "
        f"--backends {args.backends}` (also `make bench`).",
        "",
        "| backend | page | median ms | worst ms |",
        "|---|---|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="consentapp-bench-") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            lines += run_backend(backend.strip(), args.contacts, work)
    report = "\n".join(lines) + "\n"
    print(report)
    (PROJECT / "bench" / "RESULTS-dashboard.md").write_text(report)


if __name__ == "__main__":
    main()
