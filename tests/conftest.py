"""Fixtures: the app on each database backend, real SMTP and Redis servers, clients, and
the starting points several test modules share (a confirmed subscriber, an audience).

Every test that uses `app` runs twice: on SQLite and on a real PostgreSQL server
started for the session. `CONSENTAPP_TEST_POSTGRES=required` (set by CI) turns a
missing PostgreSQL into a failure instead of a skip; `=off` skips that backend.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket

from consentapp import create_app
from consentapp.config import TestingConfig
from consentapp.extensions import db, limiter
from consentapp.models import GENESIS_HASH
from consentapp.seed import seed_notice, seed_topics
from consentapp.services.register import seed_register
from tests.builders import BOUNCE_DOMAIN, make_staff
from tests.flows import confirm, confirmation_link, log_in, subscribe, subscriber
from tests.helpers import deliver
from tests.services import (
    REDIS,
    DovecotServer,
    LiveApp,
    PostgresServer,
    RedisServer,
    SMTPServer,
    dovecot_binary,
    postgres_bindir,
)

pytest_plugins = ["tests.browser_fixtures"]

BACKENDS = ["sqlite", "postgresql"]


class SessionTemplateCache(BytecodeCache):
    """Compiled templates kept for the session: every test builds a new app, and compiling
    the same templates again for each is most of a short test's time. A template whose
    source changed has another checksum, so it is compiled afresh."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = SessionTemplateCache()


def make_app(database_url: str, smtp_port: int, instance: Path, **overrides: object) -> Flask:
    """An app in the testing profile, pointed at a database and the test SMTP server."""
    config = TestingConfig(
        {
            "CONSENTAPP_INSTANCE": str(instance),
            "DATABASE_URL": database_url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "MAIL_TIMEOUT": "5",
            "STAFF_NOTIFY_EMAIL": "office@crm.example",
            "ORG_EMAIL": "privacy@crm.example",
            "BASE_URL": "http://localhost",
        }
    )
    app = create_app(config, overrides=overrides or None)
    app.jinja_env.bytecode_cache = TEMPLATE_CACHE
    return app


def migrate_to_head(database_url: str, instance: Path) -> None:
    """Build the schema with the migrations, as production does."""
    app = make_app(database_url, 25, instance)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server (aiosmtpd) for the whole session."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test works on its own copy."""
    root = tmp_path_factory.mktemp("sqlite-template")
    path = root / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}", root / "instance")
    return path


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server for the session, with a migrated database."""
    server = PostgresServer(postgres_bindir())
    server.start()
    try:
        url = server.create_database("consentapp_test")
        migrate_to_head(url, tmp_path_factory.mktemp("pg-instance"))
        yield url
    finally:
        server.stop()


def _empty_postgres(url: str) -> None:
    """Empty every table between tests; the ledger's guards are bypassed for this only."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            tables = [
                name
                for name in sa.inspect(connection).get_table_names()
                if name != "alembic_version"
            ]
            connection.execute(sa.text("SET session_replication_role = replica"))
            connection.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            connection.execute(
                sa.text("INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 0, :genesis)"),
                {"genesis": GENESIS_HASH},
            )
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on the backend this run of the test uses."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def app(database_url: str, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Flask]:
    """The app on a fresh, seeded database, with an empty mailbox and rate limits reset."""
    application = make_app(database_url, smtp_server.port, tmp_path / "instance")
    smtp_server.reset()
    with application.app_context():
        limiter.reset()
        seed_topics()
        seed_notice()
        seed_register()
        db.session.commit()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def verp_app(app: Flask) -> Flask:
    """The app with BOUNCE_DOMAIN set: every mail has its own envelope sender there."""
    app.config["BOUNCE_DOMAIN"] = BOUNCE_DOMAIN
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """Runs `flask` commands against the app."""
    return app.test_cli_runner()


@pytest.fixture
def admin_id(app: Flask) -> int:
    """An admin account."""
    return make_staff(app, "admin@crm.example", "admin")


@pytest.fixture
def staff_id(app: Flask) -> int:
    """A staff (non-admin) account."""
    return make_staff(app, "staff@crm.example", "staff")


@pytest.fixture
def admin_client(app: Flask, admin_id: int) -> FlaskClient:
    """A client logged in as the admin."""
    return log_in(app.test_client(), "admin@crm.example")


@pytest.fixture
def staff_client(app: Flask, staff_id: int) -> FlaskClient:
    """A client logged in as a staff member (not admin)."""
    return log_in(app.test_client(), "staff@crm.example")


@pytest.fixture
def confirmed(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> Iterator[None]:
    """ADDRESS is a confirmed subscriber of product-updates; the mailbox is emptied."""
    subscribe(client)
    assert confirm(client, confirmation_link(app, smtp_server)) == 200
    deliver(app)
    yield


@pytest.fixture
def audience(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> None:
    """Service-news readers: one Dutch, one English, one pending, one gone; mailbox emptied."""
    subscriber(app, client, smtp_server, "nl@example.be")
    subscriber(app, app.test_client(), smtp_server, "en@example.be", "en")
    subscribe(app.test_client(), "pending@example.be", ("service-news",))
    subscriber(app, app.test_client(), smtp_server, "gone@example.be")
    with app.app_context():
        from consentapp.models import Contact
        from consentapp.services.subscriptions import withdraw

        gone = db.session.scalar(sa.select(Contact).where(Contact.email == "gone@example.be"))
        assert gone is not None
        withdraw(gone, None, "staff", None, "nl")
        db.session.commit()
    smtp_server.handler.clear()


@pytest.fixture(scope="session")
def live_app(
    smtp_server: SMTPServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApp]:
    """The app served by gunicorn for the session (see LiveApp), with a generous API rate
    limit so that fuzzing is not throttled."""
    server = LiveApp(
        tmp_path_factory.mktemp("live"), smtp_server.port, API_RATE_LIMIT="100000 per minute"
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server for the session."""
    REDIS.skip_if_off()
    binary = shutil.which("redis-server")
    if binary is None:
        REDIS.missing("redis-server is not installed")
    server = RedisServer(binary)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """A real Dovecot (IMAP, IMAPS, POP3, POP3S) for the session."""
    server = DovecotServer(dovecot_binary())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> DovecotServer:
    """The session's Dovecot with every mailbox emptied."""
    dovecot_server.empty()
    return dovecot_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every run that needs a real PostgreSQL server `postgres`, so `-m "not postgres"`
    skips them all: the postgresql parameter of a backend fixture (`app`, a deployment) and
    any test asking for the server itself. Likewise every test using Dovecot is `imap`."""
    for item in items:
        if "dovecot_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.imap)
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        on_postgres = any(isinstance(value, str) and value == "postgresql" for value in params)
        if on_postgres or "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran on each database backend, so a skipped backend shows."""
    outcomes: dict[str, dict[str, int]] = {backend: {} for backend in BACKENDS}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            for backend in BACKENDS:
                nodeid = getattr(report, "nodeid", "")
                if f"[{backend}]" in nodeid or f"[{backend}-" in nodeid:
                    counts = outcomes[backend]
                    counts[outcome] = counts.get(outcome, 0) + 1
    terminalreporter.section("database backends")
    for backend, counts in outcomes.items():
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none"
        terminalreporter.write_line(f"{backend}: {summary}")
