#!/usr/bin/env python3
"""Sync contacts from a billing or CRM export into consentapp, through its REST API.

    CONSENTAPP_API_TOKEN=... python sync_contacts.py https://consent.example.com export.csv

The CSV has a header row with these columns (more are ignored):

    email        the person's address
    name         their name (may be empty)
    language     nl or en (empty: nl)
    topics       topic slugs separated by ';' (e.g. product-updates;service-news)
    evidence     the agreement reference, e.g. "contract 2024-117, clause 9"
    obtained_on  the date consent was given, YYYY-MM-DD
    channel      how it reached you: agreement, email or phone

For each row the script looks the contact up by address; when there is none it records
the contact with that evidence (offline capture), then asks for a subscription to the
topics (the person confirms by mail: double opt-in) and prints the contact's consent
ledger. Nothing here knows the API's paths: every operation is looked up by its
operationId in the OpenAPI document the server publishes.

The token needs the scopes contacts:read, contacts:write, subscriptions:write and
ledger:read. Standard library only (Python 3.11+).

Exit codes:
    0  every row synced (suppressed addresses are skipped and reported)
    1  unexpected answer or the server cannot be reached
    2  wrong use: arguments, CONSENTAPP_API_TOKEN missing, CSV unreadable
    3  the token was refused (401)
    4  the token lacks a scope an operation needs (403)
    5  some rows were refused as invalid (422); the other rows were synced
    6  still rate limited (429) after waiting as the server asked
"""

from __future__ import annotations

import argparse
import csv
import email.utils
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

DOCUMENT_PATH = "/api/v1/openapi.json"
TOKEN_VARIABLE = "CONSENTAPP_API_TOKEN"  # noqa: S105 (a variable name, not a secret)
COLUMNS = ("email", "name", "language", "topics", "evidence", "obtained_on", "channel")
# The operations this script calls, by operationId.
FIND_CONTACTS = "list_contacts"
CREATE_CONTACT = "create_contact"
REQUEST_SUBSCRIPTION = "request_subscription"
READ_LEDGER = "read_ledger"
NEEDED = (FIND_CONTACTS, CREATE_CONTACT, REQUEST_SUBSCRIPTION, READ_LEDGER)

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_UNAUTHORISED = 3
EXIT_FORBIDDEN = 4
EXIT_INVALID_ROWS = 5
EXIT_RATE_LIMITED = 6

RETRIES_ON_429 = 5
SHORTEST_WAIT_SECONDS = 1.0
LONGEST_WAIT_SECONDS = 300.0
TIMEOUT_SECONDS = 30.0


class Stop(Exception):
    """End the run with this exit code and message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RowRefused(Exception):
    """The API refused this row (422); the message names the fields."""


class Suppressed(Exception):
    """The address is on the suppression list (409): nothing is recorded for it."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any

    def problem(self) -> str:
        """The problem document's detail and field errors, in one line."""
        if not isinstance(self.body, dict):
            return f"HTTP {self.status}"
        text = str(self.body.get("detail") or self.body.get("title") or f"HTTP {self.status}")
        errors = self.body.get("errors") or []
        fields = [f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        return f"{text} ({'; '.join(fields)})" if fields else text


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    parameters: frozenset[str]
    has_body: bool


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. At least
    one second: a server that rounds down may say 0 while the next call is still refused."""
    if not value:
        return SHORTEST_WAIT_SECONDS
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return SHORTEST_WAIT_SECONDS
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    return min(max(seconds, SHORTEST_WAIT_SECONDS), LONGEST_WAIT_SECONDS)


class Api:
    """The operations of the server's OpenAPI document, called by operationId."""

    def __init__(self, base_url: str, token: str, retries: int = RETRIES_ON_429) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.retries = retries
        self.operations: dict[str, Operation] = {}

    def load(self, needed: tuple[str, ...] = NEEDED) -> None:
        answer = self.send("GET", DOCUMENT_PATH, None)
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise Stop(
                EXIT_UNEXPECTED, f"no OpenAPI document at {DOCUMENT_PATH}: {answer.problem()}"
            )
        self.operations = operations_of(answer.body)
        missing = [name for name in needed if name not in self.operations]
        if missing:
            raise Stop(
                EXIT_UNEXPECTED,
                f"the server's API has no operation {', '.join(missing)}: "
                "this script needs a newer consentapp",
            )

    def call(
        self,
        operation_id: str,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Answer:
        """Call an operation; refusals that end the run (401, 403, 429 after waiting, 5xx)
        raise Stop, everything else is returned."""
        operation = self.operations[operation_id]
        given = set(path or {}) | set(query or {})
        unknown = given - operation.parameters
        if unknown:
            raise Stop(
                EXIT_UNEXPECTED,
                f"operation {operation_id} takes no parameter {', '.join(sorted(unknown))}",
            )
        target = operation.path
        for name, value in (path or {}).items():
            target = target.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        if query:
            target += "?" + urllib.parse.urlencode(query)
        answer = self.send(operation.method, target, body if operation.has_body else None)
        if answer.status == 401:
            raise Stop(EXIT_UNAUTHORISED, f"the token was refused (401): {answer.problem()}")
        if answer.status == 403:
            raise Stop(EXIT_FORBIDDEN, f"the token may not do this (403): {answer.problem()}")
        if answer.status >= 500:
            raise Stop(
                EXIT_UNEXPECTED, f"the server failed (HTTP {answer.status}) on {operation_id}"
            )
        return answer

    def send(self, method: str, target: str, body: Mapping[str, Any] | None) -> Answer:
        """One request, repeated after waiting as long as a 429's Retry-After says."""
        for _ in range(self.retries + 1):
            answer = self._once(method, target, body)
            if answer.status != 429:
                return answer
            wait = retry_after_seconds(answer.headers.get("Retry-After"))
            print(f"rate limited (429): waiting {wait:.0f} s as the server asks", file=sys.stderr)
            time.sleep(wait)
        raise Stop(
            EXIT_RATE_LIMITED, f"still rate limited after {self.retries} waits: {answer.problem()}"
        )

    def _once(self, method: str, target: str, body: Mapping[str, Any] | None) -> Answer:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": "consentapp-sync-contacts/1",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in main)
            self.base_url + target, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
                return Answer(
                    int(response.status), dict(response.headers), decoded(response.read())
                )
        except urllib.error.HTTPError as error:
            with error:
                return Answer(int(error.code), dict(error.headers), decoded(error.read()))
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise Stop(EXIT_UNEXPECTED, f"cannot reach {self.base_url}: {reason}") from None


def decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def operations_of(document: Mapping[str, Any]) -> dict[str, Operation]:
    """Every operation of an OpenAPI 3 document by operationId."""
    found = {}
    for path, item in (document.get("paths") or {}).items():
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            parameters = [*shared, *operation.get("parameters", [])]
            found[operation["operationId"]] = Operation(
                operation_id=operation["operationId"],
                method=method.upper(),
                path=path,
                parameters=frozenset(p["name"] for p in parameters if "name" in p),
                has_body="requestBody" in operation,
            )
    return found


@dataclass
class Tally:
    created: int = 0
    found: int = 0
    suppressed: int = 0
    refused: list[str] = field(default_factory=list)


def rows_of(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for each data row; Stop when the file or its columns are wrong."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise Stop(EXIT_USAGE, f"cannot read {path}: {error.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        header = [name.strip().lower() for name in reader.fieldnames or []]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise Stop(EXIT_USAGE, f"{path}: the header lacks the columns {', '.join(missing)}")
        reader.fieldnames = header
        try:
            for row in reader:
                cells = {key: (value or "").strip() for key, value in row.items() if key}
                if any(cells.values()):
                    yield reader.line_num, cells
        except (csv.Error, UnicodeDecodeError) as error:
            raise Stop(EXIT_USAGE, f"{path} line {reader.line_num}: {error}") from None


def topics_of(cell: str) -> list[str]:
    return [slug for slug in re.split(r"[;,\s]+", cell) if slug]


def find_contact(api: Api, address: str) -> dict[str, Any] | None:
    answer = api.call(FIND_CONTACTS, query={"email": address})
    expect(answer, 200, FIND_CONTACTS)
    items = answer.body.get("items") or []
    return dict(items[0]) if items else None


def create_contact(api: Api, row: Mapping[str, str]) -> dict[str, Any]:
    """Record the contact with the row's consent evidence (offline capture)."""
    answer = api.call(
        CREATE_CONTACT,
        body={
            "email": row["email"],
            "name": row["name"],
            "language": row["language"] or "nl",
            "channel": row["channel"],
            "obtained_on": row["obtained_on"],
            "evidence": row["evidence"],
            "topics": [],
        },
    )
    if answer.status == 409:
        raise Suppressed(answer.problem())
    expect(answer, (200, 201), CREATE_CONTACT)
    # `contact` holds the whole record only for a token that may also read contacts.
    return {**(answer.body.get("contact") or {}), "id": answer.body["id"]}


def request_subscription(api: Api, row: Mapping[str, str], topics: list[str]) -> None:
    answer = api.call(
        REQUEST_SUBSCRIPTION,
        body={
            "email": row["email"],
            "name": row["name"],
            "topics": topics,
            "language": row["language"] or "nl",
        },
    )
    expect(answer, 202, REQUEST_SUBSCRIPTION)


def ledger_of(api: Api, contact_id: str) -> list[dict[str, Any]]:
    """Every entry of the contact's consent ledger, newest first, page by page."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query: dict[str, str | int] = {"limit": 200}
        if cursor:
            query["cursor"] = cursor
        answer = api.call(READ_LEDGER, path={"public_id": contact_id}, query=query)
        expect(answer, 200, READ_LEDGER)
        entries.extend(answer.body.get("items") or [])
        cursor = answer.body.get("next_cursor")
        if not cursor:
            return entries


def expect(answer: Answer, status: int | tuple[int, ...], operation_id: str) -> None:
    wanted = status if isinstance(status, tuple) else (status,)
    if answer.status in wanted and isinstance(answer.body, dict):
        return
    if answer.status == 422:
        raise RowRefused(answer.problem())
    raise Stop(
        EXIT_UNEXPECTED,
        f"unexpected answer to {operation_id}: HTTP {answer.status}, {answer.problem()}",
    )


def print_ledger(entries: list[dict[str, Any]]) -> None:
    print(f"  consent ledger ({len(entries)} entries, newest first):")
    for entry in entries:
        topic = entry.get("topic") or "-"
        evidence = f" evidence: {entry['evidence']}" if entry.get("evidence") else ""
        print(
            f"    {entry.get('occurred_at')}  {entry.get('purpose')} {entry.get('action')}"
            f"  topic {topic}  via {entry.get('channel')}{evidence}"
        )


def sync_row(api: Api, line: int, row: dict[str, str], tally: Tally) -> None:
    label = f"line {line} {row['email'] or '(no address)'}"
    try:
        contact = find_contact(api, row["email"])
        if contact is None:
            contact = create_contact(api, row)
            tally.created += 1
            print(f"{label}: recorded contact {contact['id']} with evidence {row['evidence']!r}")
        else:
            tally.found += 1
            print(f"{label}: found contact {contact['id']}")
        topics = topics_of(row["topics"])
        if topics:
            request_subscription(api, row, topics)
            print(f"  subscription asked for {', '.join(topics)}: the person confirms by mail")
        print_ledger(ledger_of(api, contact["id"]))
    except RowRefused as refused:
        tally.refused.append(label)
        print(f"{label}: refused: {refused}", file=sys.stderr)
    except Suppressed as suppressed:
        tally.suppressed += 1
        print(f"{label}: skipped: {suppressed}", file=sys.stderr)


def sync(api: Api, csv_path: Path) -> int:
    api.load()
    tally = Tally()
    for line, row in rows_of(csv_path):
        sync_row(api, line, row, tally)
    print(
        f"done: {tally.created} recorded, {tally.found} found, "
        f"{tally.suppressed} suppressed, {len(tally.refused)} refused"
    )
    if tally.refused:
        print(f"refused rows: {', '.join(tally.refused)}", file=sys.stderr)
        return EXIT_INVALID_ROWS
    return EXIT_OK


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Sync contacts from a CSV export into consentapp through its REST API.",
        epilog=f"The token is read from {TOKEN_VARIABLE}.",
    )
    parser.add_argument("base_url", help="where consentapp runs, e.g. https://consent.example.com")
    parser.add_argument("csv", type=Path, help="the export, with columns " + ", ".join(COLUMNS))
    parser.add_argument(
        "--retries", type=int, default=RETRIES_ON_429, help="waits on 429 before giving up"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    try:
        if not token:
            raise Stop(EXIT_USAGE, f"set {TOKEN_VARIABLE} to an API token")
        base = urllib.parse.urlsplit(args.base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise Stop(EXIT_USAGE, f"the base URL must be http(s)://host, not {args.base_url!r}")
        if base.scheme == "http" and base.hostname not in ("localhost", "127.0.0.1", "::1"):
            print("warning: the token travels in clear text over http://", file=sys.stderr)
        return sync(Api(args.base_url, token, max(args.retries, 0)), args.csv)
    except Stop as stop:
        print(f"error: {stop.message}", file=sys.stderr)
        return stop.code


if __name__ == "__main__":
    sys.exit(main())
