"""The API as an integrator meets it: the app served by gunicorn (tests/services.py
LiveApp), the sync script in examples/ run as a separate process with a CSV export, and
schemathesis over HTTP against every operation the live document lists."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    positive_data_acceptance,
    response_schema_conformance,
)

from consentapp.extensions import db
from consentapp.models import AuditEntry, ConsentEvent, Contact
from tests.conftest import make_app
from tests.helpers import subscribed
from tests.services import PROJECT_DIR, LiveApp, SMTPServer

SCRIPT = PROJECT_DIR / "examples" / "sync_contacts.py"
COLUMNS = ["email", "name", "language", "topics", "evidence", "obtained_on", "channel"]
EXAMPLES_PER_OPERATION = 20
# As in test_api_schema.py: "schema-valid data is accepted" cannot hold for values whose
# validity no schema can express (a deliverable address, an existing topic, our cursor).
EXCLUDED = [positive_data_acceptance]
REQUIRED_CHECKS = [not_a_server_error, response_schema_conformance]

pytestmark = pytest.mark.slow


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(email: str, **cells: str) -> dict[str, str]:
    return {
        "email": email,
        "name": "",
        "language": "nl",
        "topics": "product-updates",
        "evidence": f"contract for {email}",
        "obtained_on": "2026-03-01",
        "channel": "agreement",
        **cells,
    }


def run_sync(
    base_url: str, csv_path: Path, token: str | None, *extra: str
) -> subprocess.CompletedProcess[str]:
    """The script as an integrator runs it: its own process, the token in the environment."""
    env = {key: value for key, value in os.environ.items() if key != "CONSENTAPP_API_TOKEN"}
    if token is not None:
        env["CONSENTAPP_API_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-I", str(SCRIPT), base_url, str(csv_path), *extra],
        env=env,
        cwd=csv_path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def reader(live_app: LiveApp, smtp_server: SMTPServer, tmp_path: Path) -> Iterator[Flask]:
    """An app on the live server's database, to read what the calls stored."""
    app = make_app(live_app.database_url, smtp_server.port, tmp_path / "reader")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def contact_ledger(app: Flask, email: str) -> list[tuple[str, str, str, str | None]]:
    """The contact's ledger rows as (purpose, action, channel, evidence), oldest first."""
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == email))
        assert contact is not None, f"no contact {email}"
        events = db.session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.subject_id == contact.public_id)
            .order_by(ConsentEvent.id)
        )
        return [(e.purpose.value, e.action.value, e.channel.value, e.evidence) for e in events]


def test_the_sync_script_uses_the_standard_library_only() -> None:
    imported = set()
    for node in ast.walk(ast.parse(SCRIPT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported, "no imports found"
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_the_sync_script_reads_retry_after_as_seconds_or_as_a_date(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = importlib.util.spec_from_file_location("sync_contacts", SCRIPT)
    assert found is not None and found.loader is not None
    script = importlib.util.module_from_spec(found)
    monkeypatch.setitem(sys.modules, "sync_contacts", script)
    found.loader.exec_module(script)
    then = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert script.retry_after_seconds("7") == 7
    assert script.retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", lambda: then) == 30
    assert script.retry_after_seconds("Wed, 21 Oct 2015 07:27:00 GMT", lambda: then) == 1
    assert script.retry_after_seconds("0") == 1, "a 0 is waited out a second at a time"
    assert script.retry_after_seconds("86400") == script.LONGEST_WAIT_SECONDS
    assert script.retry_after_seconds("soon") == script.retry_after_seconds(None) == 1


def test_the_sync_script_knows_no_path_of_the_api() -> None:
    """Every operation is found by its operationId in the document, never by its path."""
    source = SCRIPT.read_text(encoding="utf-8")
    paths = re.findall(r"[\"'](/api/v1/[^\"']*)[\"']", source)
    assert paths == ["/api/v1/openapi.json"]


def test_every_operation_has_a_stable_operation_id(live_app: LiveApp) -> None:
    with urllib.request.urlopen(f"{live_app.url}/api/v1/openapi.json", timeout=10) as answer:
        document = json.load(answer)
    ids = [
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
    ]
    assert len(ids) == len(set(ids)) >= 11
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in ids), ids
    assert {"list_contacts", "create_contact", "request_subscription", "read_ledger"} <= set(ids)


def test_the_sync_script_records_evidence_asks_for_subscriptions_and_prints_the_ledger(
    live_app: LiveApp, reader: Flask, tmp_path: Path
) -> None:
    export = write_csv(
        tmp_path / "export.csv",
        [
            row("ada@sync.example", name="Ada Lovelace", topics="product-updates;service-news"),
            row("bob@sync.example", language="en", channel="phone", evidence="call 2026-03-01"),
            row("not-an-address"),
        ],
    )

    first = run_sync(live_app.url, export, live_app.token)

    assert first.returncode == 5, first.stderr
    assert "line 4 not-an-address: refused" in first.stderr
    assert "email" in first.stderr
    assert "done: 2 recorded, 0 found, 0 suppressed, 1 refused" in first.stdout
    assert "evidence: contract for ada@sync.example" in first.stdout
    assert subscribed(reader, "ada@sync.example") == {
        "product-updates": "pending",
        "service-news": "pending",
    }
    assert subscribed(reader, "bob@sync.example") == {"product-updates": "pending"}
    ada = contact_ledger(reader, "ada@sync.example")
    assert ada[0] == ("contact", "given", "agreement", "contract for ada@sync.example")
    assert [entry[:2] for entry in ada[1:]] == [("newsletter", "requested")] * 2
    assert contact_ledger(reader, "bob@sync.example")[0] == (
        "contact",
        "given",
        "phone",
        "call 2026-03-01",
    )
    with reader.app_context():
        assert (
            db.session.scalar(sa.select(Contact).where(Contact.email == "not-an-address")) is None
        )
        captures = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "consent.capture")
        ).all()
        assert {entry.details["evidence"] for entry in captures if entry.details} >= {
            "contract for ada@sync.example",
            "call 2026-03-01",
        }

    again = run_sync(
        live_app.url, write_csv(tmp_path / "again.csv", [row("ada@sync.example")]), live_app.token
    )

    assert again.returncode == 0, again.stderr
    assert "found contact" in again.stdout
    assert "done: 0 recorded, 1 found, 0 suppressed, 0 refused" in again.stdout
    given = [entry for entry in contact_ledger(reader, "ada@sync.example") if entry[0] == "contact"]
    assert len(given) == 1, "a contact found by address is not captured again"


def test_the_sync_script_stops_with_a_clear_code_when_refused(
    live_app: LiveApp, tmp_path: Path
) -> None:
    export = write_csv(tmp_path / "export.csv", [row("carol@sync.example")])

    no_token = run_sync(live_app.url, export, None)
    assert no_token.returncode == 2
    assert "CONSENTAPP_API_TOKEN" in no_token.stderr

    unknown = run_sync(live_app.url, export, "not-a-token")
    assert unknown.returncode == 3
    assert "401" in unknown.stderr

    read_only = live_app.create_token("crm-read-only", ["contacts:read"])
    forbidden = run_sync(live_app.url, export, read_only)
    assert forbidden.returncode == 4
    assert "403" in forbidden.stderr
    assert "contacts:write" in forbidden.stderr

    broken = tmp_path / "broken.csv"
    broken.write_text("email,name\ndave@sync.example,Dave\n", encoding="utf-8")
    wrong_columns = run_sync(live_app.url, broken, live_app.token)
    assert wrong_columns.returncode == 2
    assert "topics" in wrong_columns.stderr and "evidence" in wrong_columns.stderr

    nowhere = run_sync(live_app.url, tmp_path / "missing.csv", live_app.token)
    assert nowhere.returncode == 2


@pytest.fixture(scope="module")
def throttled(
    smtp_server: SMTPServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApp]:
    """A second live server that allows two calls of each operation per two seconds."""
    server = LiveApp(
        tmp_path_factory.mktemp("throttled"), smtp_server.port, API_RATE_LIMIT="2 per 2 second"
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_the_sync_script_waits_as_long_as_retry_after_says(
    throttled: LiveApp, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    impatient = run_sync(
        throttled.url,
        write_csv(tmp_path / "first.csv", [row(f"erin{n}@sync.example") for n in range(3)]),
        throttled.token,
        "--retries",
        "0",
    )
    assert impatient.returncode == 6, impatient.stderr
    assert "rate limited" in impatient.stderr

    patient = run_sync(
        throttled.url,
        write_csv(tmp_path / "second.csv", [row(f"frank{n}@sync.example") for n in range(3)]),
        throttled.token,
    )

    assert patient.returncode == 0, patient.stderr
    waits = [int(s) for s in re.findall(r"rate limited \(429\): waiting (\d+) s", patient.stderr)]
    assert waits, patient.stderr
    assert all(1 <= wait <= 3 for wait in waits), waits  # a 2 s window, rounded up
    reader = make_app(throttled.database_url, smtp_server.port, tmp_path / "reader")
    try:
        for n in range(3):
            assert subscribed(reader, f"frank{n}@sync.example") == {"product-updates": "pending"}
    finally:
        with reader.app_context():
            db.engine.dispose()


@pytest.mark.fuzz
def test_every_operation_of_the_live_app_keeps_to_its_document(live_app: LiveApp) -> None:
    """Whatever operations the served document lists, each answers as it says and never
    with a 5xx, for schemathesis's calls over HTTP with a token holding every scope."""
    headers = {"Authorization": f"Bearer {live_app.token}"}
    schema = schemathesis.openapi.from_url(f"{live_app.url}/api/v1/openapi.json", timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    calls: list[int] = []

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call_and_validate(
                headers=headers,
                timeout=10,
                additional_checks=REQUIRED_CHECKS,
                excluded_checks=EXCLUDED,
            )
            calls.append(response.status_code)

        run()

    assert len(calls) >= len(operations)
    assert any(200 <= status < 300 for status in calls), "the token was never accepted"
