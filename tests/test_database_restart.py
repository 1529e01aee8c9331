"""PostgreSQL restarted while visitors post forms and the worker sends.

A PostgreSQL server of this test's own (not the session's), a real web server
(gunicorn) and a real worker process. Visitors post the subscribe and contact forms
throughout; the database is stopped and started again in the middle. Requests during
the outage get the friendly 503 page (never a 500), /healthz says 503, every
submission answered with success is stored, both processes carry on by themselves
once the database is back, and no mail goes out twice beyond those in flight
(MAIL_PIPELINE_DEPTH accepted but not yet recorded, one on the wire per connection).
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask import Flask

from consentapp.config import load_config
from consentapp.extensions import db
from consentapp.seed import seed_notice, seed_topics
from consentapp.services.register import seed_register
from tests.conftest import make_app, migrate_to_head
from tests.helpers import CSRF
from tests.services import PROJECT_DIR, PostgresServer, SMTPServer, free_port, postgres_bindir

FRIENDLY_503 = "Deze website is even niet beschikbaar"


@dataclass
class Stack:
    """The database of this test and the processes that use it."""

    database: PostgresServer
    url: str
    web: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    port: int
    logs: Path


@dataclass
class Answer:
    email: str
    form: str
    status: int
    body: str
    at: float  # when the answer had arrived
    sent: float = 0.0  # when the request went out


def _wait_for_http(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise AssertionError("the web server did not come up")


@pytest.fixture
def stack(smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Stack]:
    database = PostgresServer(postgres_bindir())
    database.start()
    web = worker = None
    web_log = (tmp_path / "web.log").open("wb")
    worker_log = (tmp_path / "worker.log").open("wb")
    try:
        url = database.create_database("restart")
        instance = tmp_path / "instance"
        migrate_to_head(url, instance)
        app = make_app(url, smtp_server.port, instance)
        with app.app_context():
            seed_topics()
            seed_notice()
            seed_register()
            db.session.commit()
            db.engine.dispose()
        smtp_server.reset()
        port = free_port()
        env = {
            **os.environ,
            "CONSENTAPP_ENV": "testing",
            "DATABASE_URL": url,
            "CONSENTAPP_INSTANCE": str(instance),
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_server.port),
            "MAIL_TIMEOUT": "5",
            "RATELIMIT_ENABLED": "false",
            "WORKER_POLL_SECONDS": "1",
            "BASE_URL": "http://localhost",
        }
        logs = tmp_path
        web = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "2"),
                *("--bind", f"127.0.0.1:{port}", "wsgi:app"),
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=web_log,
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
        )
        _wait_for_http(port, 30)
        yield Stack(database, url, web, worker, port, logs)
    finally:
        for process in (web, worker):
            if process is not None and process.poll() is None:
                process.terminate()
        for process in (web, worker):
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        web_log.close()
        worker_log.close()
        database.stop()


class Visitor:
    """A browser on the real web server: keeps its cookies, follows no redirect."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Accept-Language": "nl"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        sent = time.monotonic()
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, value = cookie.split(";", 1)[0].partition("=")
                self.cookies[name] = value
            text = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        return Answer("", "", response.status, text, time.monotonic(), sent)

    def submit(self, number: int) -> Answer:
        """Open a form and send it, as a visitor does: subscribe, or contact."""
        form = "/subscribe" if number % 2 == 0 else "/contact"
        email = f"visitor{number}@example.be"
        page = self.request("GET", form)
        if page.status != 200:
            page.email, page.form = email, form + " (page)"
            return page
        match = CSRF.search(page.body)
        assert match, "the form page has a CSRF token"
        data = {"csrf_token": match.group(1), "email": email, "notice_version": "1"}
        if form == "/subscribe":
            data |= {"name": "Lies", "topics": "product-updates"}
        else:
            data |= {"name": "Els Janssens", "message": "Kunnen jullie ons bellen?"}
        answer = self.request("POST", form, data)
        answer.email, answer.form = email, form
        return answer


def succeeded(answer: Answer) -> bool:
    if answer.form == "/subscribe":
        return answer.status == 200
    return answer.form == "/contact" and answer.status == 302


def test_a_database_that_does_not_answer_gets_the_friendly_503_page(
    smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """No database at all (SQLite file in a missing folder): a form page gets the 503
    page with Retry-After, not a 500; /healthz says 503."""
    app = make_app(f"sqlite:///{tmp_path / 'gone' / 'db.sqlite3'}", smtp_server.port, tmp_path)
    client = app.test_client()
    page = client.get("/subscribe", headers={"Accept-Language": "nl"})
    assert page.status_code == 503
    assert FRIENDLY_503 in page.get_data(as_text=True)
    assert page.headers["Retry-After"].isdigit()
    assert client.get("/healthz").status_code == 503
    with app.app_context():
        db.engine.dispose()


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restart_mid_run_loses_no_answered_submission(
    stack: Stack, smtp_server: SMTPServer
) -> None:
    answers: list[Answer] = []
    stop = threading.Event()

    def visitors() -> None:
        number = 0
        while not stop.is_set() and number < 2000:
            try:
                answers.append(Visitor(stack.port).submit(number))
            except (OSError, http.client.HTTPException) as exc:
                answers.append(Answer(f"visitor{number}@example.be", "?", 0, str(exc), 0))
            number += 1
            time.sleep(0.05)

    posting = threading.Thread(target=visitors)
    posting.start()
    try:
        deadline = time.monotonic() + 60
        while sum(map(succeeded, answers)) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        before = sum(map(succeeded, answers))
        stack.database.halt("fast")
        down_at = time.monotonic()
        time.sleep(1)
        health = Visitor(stack.port).request("GET", "/healthz")
        time.sleep(4)
        resuming_at = time.monotonic()
        stack.database.resume()
        up_at = time.monotonic()
        time.sleep(10)
    finally:
        stop.set()
        posting.join(timeout=60)

    assert before >= 6, "forms were answered before the outage"
    assert health.status == 503, health.body
    statuses = Counter(answer.status for answer in answers)
    assert set(statuses) <= {200, 302, 503}, statuses  # never a 500, never a dropped request
    for answer in answers:
        if answer.status == 503:
            assert FRIENDLY_503 in answer.body and "Traceback" not in answer.body
    # Sent once the server had stopped and answered before it was started again: the
    # database was down for the whole request.
    outage = [a for a in answers if down_at <= a.sent and a.at <= resuming_at]
    assert outage and all(a.status == 503 for a in outage), "the outage answers 503"
    back = [a.at - up_at for a in answers if a.at > up_at and succeeded(a)]
    assert back and back[0] < 5, "submissions succeed again within seconds"
    print(f"\nforms answered: {dict(statuses)}; first success {back[0]:.1f} s after the restart")
    assert stack.web.poll() is None and stack.worker.poll() is None, "nothing was restarted"

    stored_ok = [a.email for a in answers if succeeded(a)]
    engine = sa.create_engine(stack.url)
    try:
        with engine.connect() as connection:
            stored = set(connection.scalars(sa.text("SELECT email FROM contacts")))
    finally:
        engine.dispose()
    missing = sorted(set(stored_ok) - stored)
    assert not missing, f"answered with success but not stored: {missing}"

    # The worker, never restarted, mails every stored subscriber and inquirer.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mailed = {a for e in list(smtp_server.handler.envelopes) for a in e.rcpt_tos}
        if stored <= mailed:
            break
        time.sleep(0.5)
    received = Counter(a for e in list(smtp_server.handler.envelopes) for a in e.rcpt_tos)
    assert stored <= set(received), sorted(stored - set(received))[:10]
    per_person = {
        address: count
        for address, count in received.items()
        if re.fullmatch(r"visitor\d+@example\.be", address)
    }
    duplicates = sum(count - 1 for count in per_person.values())
    settings = load_config("testing", {})  # the worker's own settings
    bound = settings.MAIL_PIPELINE_DEPTH + settings.MAIL_CONNECTIONS
    assert duplicates <= bound, f"{duplicates} mails went out twice (bound {bound})"
    log = (stack.logs / "web.log").read_text(errors="replace")
    assert "Exception on /" not in log, log[-4000:]  # what Flask logs for a 500


def test_a_page_made_before_the_database_went_away_is_still_delivered(app: Flask) -> None:
    """PostgreSQL ends the request's connection after the page was made: the closing
    ROLLBACK fails on the dead connection. The visitor still gets the page, not a 500,
    and the next request works on a fresh connection."""
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        pytest.skip("a server ending a connection is PostgreSQL's")

    @app.get("/_test/query-then-lose-the-connection")
    def query_then_lose_the_connection() -> str:
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        killer = sa.create_engine(url)
        try:
            with killer.connect() as connection:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            killer.dispose()
        return "made"

    client = app.test_client()
    response = client.get("/_test/query-then-lose-the-connection")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "made"
    assert client.get("/healthz").status_code == 200
