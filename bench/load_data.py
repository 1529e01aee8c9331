"""The database and the requests of bench/load.py: a database migrated and seeded with
the app's own commands, confirmed subscribers added in bulk in the shape the app writes
them, and the signed links, sessions and form bodies the load client sends."""

from __future__ import annotations

import http.client
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

PROJECT = Path(__file__).resolve().parent.parent
TOPIC_ID = 2  # service-news, the second topic `flask seed` adds
TOPIC = "service-news"
STAFF_EMAIL = "bench@crm.example"
STAFF_PASSWORD = "benchmark-password-123"
COOKIE = "consentapp_session"
BATCH = 5000


@dataclass(frozen=True)
class Subscriber:
    public_id: str
    email: str


def flask(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    """`flask --app wsgi ARGS` as an operator runs it."""
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=PROJECT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed: {completed.stderr[-3000:]}")


def prepare(env: dict[str, str], count: int) -> list[Subscriber]:
    """Migrate (`flask db upgrade`), seed topics and notice (`flask seed`), create the
    staff account (`flask staff create`), then add `count` confirmed subscribers."""
    flask(env, "db", "upgrade")
    flask(env, "seed")
    flask(
        env,
        "staff",
        "create",
        STAFF_EMAIL,
        "--role",
        "staff",
        "--name",
        "Bench",
        "--password-stdin",
        stdin=STAFF_PASSWORD + "\n",
    )
    engine = sa.create_engine(env["DATABASE_URL"])
    try:
        subscribers = add_subscribers(engine, count)
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.text(PG_HITS))
            else:
                connection.execute(sa.text(SQLITE_HITS))
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()
    return subscribers


SQLITE_HITS = "CREATE TABLE bench_hits (id INTEGER PRIMARY KEY, token TEXT NOT NULL)"
PG_HITS = "CREATE TABLE bench_hits (id BIGSERIAL PRIMARY KEY, token TEXT NOT NULL)"


def add_subscribers(engine: sa.Engine, count: int) -> list[Subscriber]:
    """`count` contacts reader<n>@example.be (every fourth English), each with a confirmed
    subscription to service-news and its two ledger rows (requested, confirmed), citing
    the published notice of the contact's language: what a subscribe and a confirmation
    through the site write, inserted in batches."""
    from consentapp.models import ConsentEvent, Contact, Subscription
    from consentapp.models.base import new_public_id, utcnow
    from consentapp.models.contact import search_key

    now = utcnow()
    signed = now.replace(microsecond=0).isoformat()
    subscribers: list[Subscriber] = []
    with engine.begin() as connection:
        notices = {
            row.language: row
            for row in connection.execute(
                sa.text("SELECT id, version, language, sha256 FROM privacy_notices")
            )
        }
        for start in range(1, count + 1, BATCH):
            numbers = range(start, min(start + BATCH, count + 1))
            people: list[dict[str, Any]] = []
            for number in numbers:
                email = f"reader{number}@example.be"
                language = "en" if number % 4 == 0 else "nl"
                name = f"Reader {number}"
                people.append(
                    {
                        "public_id": new_public_id(),
                        "email": email,
                        "name": name,
                        "language": language,
                        "source_channel": "web_form",
                        "created_at": now,
                        "updated_at": now,
                        "search_text": search_key(name, email, ""),
                    }
                )
            connection.execute(sa.insert(Contact), people)
            chosen = sa.select(Contact.public_id, Contact.id).where(
                Contact.public_id.in_([p["public_id"] for p in people])
            )
            ids = {public_id: key for public_id, key in connection.execute(chosen)}
            connection.execute(
                sa.insert(Subscription),
                [
                    {
                        "contact_id": ids[p["public_id"]],
                        "topic_id": TOPIC_ID,
                        "status": "confirmed",
                        "requested_at": now,
                        "confirmed_at": now,
                        "updated_at": now,
                    }
                    for p in people
                ],
            )
            events: list[dict[str, Any]] = []
            for p in people:
                notice = notices[p["language"]]
                common = {
                    "occurred_at": now,
                    "subject_id": p["public_id"],
                    "purpose": "newsletter",
                    "topic_id": TOPIC_ID,
                    "channel": "web_form",
                    "notice_id": notice.id,
                    "notice_version": notice.version,
                    "notice_language": notice.language,
                    "notice_sha256": notice.sha256,
                }
                events.append(
                    {
                        **common,
                        "action": "requested",
                        "details": {"topics": [TOPIC], "language": p["language"]},
                    }
                )
                events.append(
                    {
                        **common,
                        "action": "confirmed",
                        "details": {"link_signed_at": signed, "via": "confirmation link"},
                    }
                )
            connection.execute(sa.insert(ConsentEvent), events)
            subscribers += [Subscriber(p["public_id"], p["email"]) for p in people]
    return subscribers


def signed_links(
    env: dict[str, str], subscribers: Sequence[Subscriber]
) -> tuple[list[str], list[str]]:
    """The one-click unsubscribe token (for service-news, as a newsletter's footer has it)
    and the preferences token of each subscriber, signed by the app's own functions with
    the server's SECRET_KEY."""
    from consentapp import create_app
    from consentapp.config import load_config
    from consentapp.extensions import db
    from consentapp.models import Contact
    from consentapp.tokens import Purpose, make_token

    quiet = logging.getLogger("consentapp")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the server's start logs the production warnings
    try:
        app = create_app(load_config(environ=env))
    finally:
        quiet.setLevel(level)
    unsubscribe, preferences = [], []
    with app.app_context():
        for subscriber in subscribers:
            contact = Contact(public_id=subscriber.public_id, email=subscriber.email)
            unsubscribe.append(make_token(Purpose.UNSUBSCRIBE, contact, t=[TOPIC]))
            preferences.append(make_token(Purpose.PREFERENCES, contact))
        db.engine.dispose()
    return unsubscribe, preferences


# Sessions, as a browser gets them ---------------------------------------------------------


def get(port: int, path: str, cookie: str = "") -> tuple[int, str, str]:
    """One GET: status, body, and the session cookie it set (or the one sent)."""
    from bench.wrk import USER_AGENT

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"User-Agent": USER_AGENT, **({"Cookie": cookie} if cookie else {})}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode(), session_cookie(response) or cookie
    finally:
        connection.close()


def post(port: int, path: str, fields: dict[str, str], cookie: str) -> tuple[int, str]:
    from bench.wrk import USER_AGENT

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
        }
        connection.request("POST", path, body=urlencode(fields), headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, session_cookie(response) or cookie
    finally:
        connection.close()


def session_cookie(response: http.client.HTTPResponse) -> str | None:
    for header in response.headers.get_all("Set-Cookie") or []:
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        if COOKIE in jar:
            return f"{COOKIE}={jar[COOKIE].value}"
    return None


def hidden(page: str, name: str) -> str:
    """The value of a form's hidden field `name` in `page`."""
    marker = f'name="{name}" type="hidden" value="'
    if marker not in page:
        raise RuntimeError(f"no hidden field {name} on the page")
    return page.split(marker, 1)[1].split('"', 1)[0]


def staff_cookie(port: int) -> str:
    """Log in through the login form as a person would: the session cookie of the staff
    account, checked on the dashboard."""
    status, page, cookie = get(port, "/staff/login")
    fields = {"csrf_token": hidden(page, "csrf_token"), "email": STAFF_EMAIL}
    status, cookie = post(port, "/staff/login", {**fields, "password": STAFF_PASSWORD}, cookie)
    if status != 302:
        raise RuntimeError(f"staff login answered {status}")
    status, _, cookie = get(port, "/staff/", cookie)
    if status != 200:
        raise RuntimeError(f"the dashboard answered {status} after the login")
    return cookie


def subscribe_requests(
    port: int, sessions: int, count: int, tag: str
) -> list[tuple[str, str, str]]:
    """`count` subscribe posts, each with its own address, spread over `sessions` visitor
    sessions: each session is a real GET of /subscribe (its cookie, CSRF token and the
    notice version shown), as a browser holds them when it posts the form."""
    visits = []
    for _ in range(sessions):
        status, page, cookie = get(port, "/subscribe")
        if status != 200 or not cookie:
            raise RuntimeError(f"GET /subscribe answered {status}")
        visits.append((cookie, hidden(page, "csrf_token"), hidden(page, "notice_version")))
    entries = []
    for number in range(count):
        cookie, token, version = visits[number % sessions]
        fields = {
            "csrf_token": token,
            "email": f"visitor-{tag}-{number}@example.be",
            "name": f"Visitor {number}",
            "topics": TOPIC,
            "language": "nl",
            "website": "",
            "notice_version": version,
        }
        entries.append(("/subscribe", urlencode(fields), cookie))
    return entries


def count_rows(url: str, statement: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(statement)).scalar_one())
    finally:
        engine.dispose()


def database_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                return "PostgreSQL " + str(
                    connection.execute(sa.text("SHOW server_version")).scalar_one()
                )
            return "SQLite " + str(
                connection.execute(sa.text("SELECT sqlite_version()")).scalar_one()
            )
    finally:
        engine.dispose()


def conninfo(url: str) -> str:
    """The libpq conninfo of a `postgresql+psycopg://` URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def environ_for(url: str, instance: Path, secret: str) -> dict[str, str]:
    """Production settings, on a database of its own, rate limits off."""
    return {
        **os.environ,
        "CONSENTAPP_ENV": "production",
        "SECRET_KEY": secret,
        "DATABASE_URL": url,
        "CONSENTAPP_INSTANCE": str(instance),
        "BASE_URL": "http://127.0.0.1:8000",
        "RATELIMIT_ENABLED": "false",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": "9",  # nothing sends: the outbox only queues, no worker runs
    }
