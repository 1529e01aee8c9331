"""How fast the REST API answers with a million contacts, and how fast outgoing webhooks
are delivered, next to bare baselines measured in the same run.

    .venv/bin/python -m bench.api [--contacts 1000000] [--backends sqlite,postgresql]
                                  [--requests 200] [--deliveries 5000]

Per backend: a fresh database filled as bench/dashboard.py fills it (N contacts, 1.5
subscriptions and 2 ledger rows each on average), an API token with `contacts:read`,
and the real app under gunicorn (`-w 2`). One client calls over HTTP with the bearer
token, one call at a time, and the latency of each call (connect to last byte) is kept:

- `GET /api/v1/contacts?email=` with a known and an unknown address, `?q=` with a
  name, the first page of the list, a page deep in the cursor chain (after following
  `next_cursor` DEEP times), the same for a `?q=` that matches many, and
  `GET /api/v1/contacts/<id>` (one contact with its subscriptions).
- Baseline: the same lookup by e-mail as one indexed SQL query from a bare Flask
  handler under the same gunicorn settings.

Webhooks, per backend, on a small database of its own: `--deliveries` queued
deliveries (`contact.created`, queued by `outgoing_webhooks.emit`) to one endpoint on a
local receiver process that verifies every signature with the `standardwebhooks`
library and counts each webhook-id. Delivered (1) by the real `flask --app wsgi worker`
process, (2) by the delivery job `deliver_webhooks` called back to back, and (3) as a
baseline, by a raw loop of http.client POSTs of ready signed bodies to the same kind of
receiver. Every run checks that each delivery arrived exactly once and verified.

Writes bench/RESULTS-api.md. Not a test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from flask import Flask

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench.bounces import free_port, gunicorn, stop, wait_for_port  # noqa: E402
from bench.dashboard import fill, make_app  # noqa: E402

DEEP = 10  # `next_cursor` followed this many times for the deep pages
PAGE = 200  # limit for the deep pages
BUDGET_SECONDS = 40.0  # per measured call, at least MIN_SAMPLES samples
MIN_SAMPLES = 20
MANY = "company 42"  # matches company 42, 420-429 and 4200-4299: 2.2 % of the contacts
LONGEST_WAIT_SECONDS = 1800.0


# The webhook receiver (its own process) --------------------------------------------------


def run_receiver(port: int, secret: str) -> None:
    """Answers 200 to each POST whose Standard Webhooks signature verifies (400 if not),
    counting webhook-ids; GET /stats tells the counts and the first and last arrival."""
    from standardwebhooks import Webhook

    hook = Webhook(secret)
    lock = threading.Lock()
    seen: Counter[str] = Counter()
    stats: dict[str, Any] = {"bad": 0, "first": None, "last": None}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                hook.verify(body, headers)
                ok = True
            except Exception:
                ok = False
            with lock:
                now = time.time()
                if ok:
                    seen[headers["webhook-id"]] += 1
                else:
                    stats["bad"] += 1
                stats["first"] = stats["first"] or now
                stats["last"] = now
            self.send_response(200 if ok else 400)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:
            with lock:
                answer = {
                    **stats,
                    "verified": sum(seen.values()),
                    "distinct": len(seen),
                    "repeated": sum(1 for count in seen.values() if count > 1),
                }
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


@dataclass
class Receiver:
    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, port: int, secret: str) -> Receiver:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.api", "--receiver", str(port), secret], cwd=PROJECT
        )
        wait_for_port(port, process)
        return cls(process, port)

    def stats(self) -> dict[str, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", "/stats")
            return dict(json.loads(connection.getresponse().read()))
        finally:
            connection.close()

    def wait_for(self, count: int, watched: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + LONGEST_WAIT_SECONDS
        while sum(self.stats()[key] for key in ("verified", "bad")) < count:
            if watched is not None and watched.poll() is not None:
                raise RuntimeError(f"process ended with {watched.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the receiver did not get {count} deliveries in time")
            time.sleep(0.2)


# The API calls ---------------------------------------------------------------------------


def bare_app() -> Flask:
    """The baseline (`gunicorn 'bench.api:bare_app()'`): the lookup by e-mail as one
    indexed SQL query, answered as JSON, and nothing else."""
    from flask import Flask, Response, jsonify, request

    app = Flask("bare")
    engine = sa.create_engine(os.environ["DATABASE_URL"])
    query = sa.text(
        "SELECT public_id, email, name, company, language, created_at FROM contacts "
        "WHERE email = :email"
    )

    @app.get("/bare")
    def lookup() -> Response:
        with engine.connect() as connection:
            rows = connection.execute(query, {"email": request.args["email"]}).mappings().all()
        return jsonify(items=[{**row, "created_at": str(row["created_at"])} for row in rows])

    return app


def call(port: int, path: str, token: str | None) -> tuple[float, dict[str, Any]]:
    """One GET on a new connection (gunicorn's sync workers close each): ms and JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
    return elapsed, dict(json.loads(body))


@dataclass
class Row:
    what: str
    samples: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        """Nearest-rank percentile of the samples, in ms."""
        ordered = sorted(self.samples)
        rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
        return ordered[rank - 1]


def sample(
    what: str, requests: int, port: int, token: str | None, path_for: Any, check: Any
) -> Row:
    """`requests` calls (fewer when they take over BUDGET_SECONDS, at least MIN_SAMPLES),
    after one warm-up call; `check` sees each answer."""
    row = Row(what)
    check(call(port, path_for(), token)[1])
    started = time.monotonic()
    while len(row.samples) < requests:
        elapsed, answer = call(port, path_for(), token)
        check(answer)
        row.samples.append(elapsed)
        if len(row.samples) >= MIN_SAMPLES and time.monotonic() - started > BUDGET_SECONDS:
            break
    return row


def deep_cursor(port: int, token: str, query: str) -> tuple[str, int]:
    """The path of the page reached by following `next_cursor` DEEP times (fewer when
    the list ends first), and that page's number."""
    path = f"/api/v1/contacts?limit={PAGE}{query}"
    page = 1
    for _ in range(DEEP):
        cursor = call(port, path, token)[1]["next_cursor"]
        if not cursor:
            break
        path = f"/api/v1/contacts?limit={PAGE}{query}&cursor={cursor}"
        page += 1
    return path, page


def measure_api(
    url: str, env: dict[str, str], token: str, contacts: int, requests: int
) -> list[Row]:
    pick = random.Random(13)

    def known() -> int:
        return pick.randint(1, contacts)

    def one(answer: dict[str, Any]) -> None:
        assert len(answer["items"]) == 1, answer

    def none(answer: dict[str, Any]) -> None:
        assert answer["items"] == [], answer

    def some(answer: dict[str, Any]) -> None:
        assert answer["items"], answer

    def detail(answer: dict[str, Any]) -> None:
        assert answer["subscriptions"], answer

    low = min(100_000, contacts // 10 + 1)
    rows: list[Row] = []
    web, port = gunicorn("wsgi:app", env)
    try:
        deep_list, list_page = deep_cursor(port, token, "")
        many = MANY.replace(" ", "+")
        deep_many, many_page = deep_cursor(port, token, f"&q={many}")
        contacts_path = "/api/v1/contacts"
        plan = [
            (
                "`?email=` known address",
                lambda: f"{contacts_path}?email=person{known()}@example.be",
                one,
            ),
            (
                "`?email=` unknown address",
                lambda: f"{contacts_path}?email=nobody{known()}@example.be",
                none,
            ),
            (
                "`?q=` a name (`person <n>`)",
                lambda: f"{contacts_path}?q=person+{pick.randint(low, contacts)}",
                some,
            ),
            ("list, first page (50)", lambda: contacts_path, some),
            (f"list, page {list_page} at {PAGE} a page", lambda: deep_list, some),
            (f"`?q={MANY}`, first page (50)", lambda: f"{contacts_path}?q={many}", some),
            (f"`?q={MANY}`, page {many_page} at {PAGE} a page", lambda: deep_many, some),
            ("`/contacts/<id>` with subscriptions", lambda: f"{contacts_path}/p{known()}", detail),
        ]
        for what, path_for, check in plan:
            rows.append(sample(what, requests, port, token, path_for, check))
            print(f"  {what}: p50 {rows[-1].percentile(0.5):.1f} ms", flush=True)
    finally:
        stop(web)
    bare, port = gunicorn("bench.api:bare_app()", {**env, "DATABASE_URL": url})
    try:
        rows.append(
            sample(
                "baseline: bare Flask, one indexed query by e-mail",
                requests,
                port,
                None,
                lambda: f"/bare?email=person{known()}@example.be",
                one,
            )
        )
    finally:
        stop(bare)
    return rows


# The webhooks ----------------------------------------------------------------------------


@dataclass
class Delivered:
    """One way of delivering: rate (per second) and what the receiver counted."""

    how: str
    rate: float
    stats: dict[str, Any]
    note: str = ""

    def exactly_once(self, count: int) -> bool:
        s = self.stats
        return bool(s["verified"] == s["distinct"] == count and not s["repeated"] and not s["bad"])


def queue_deliveries(app: Flask, port: int, count: int) -> str:
    """A new endpoint on `port` and `count` contact.created deliveries queued for it the
    way the app queues them; returns the endpoint's signing secret."""
    from consentapp.extensions import db
    from consentapp.models import WebhookEndpoint
    from consentapp.services.outgoing_webhooks import add_endpoint, emit

    with app.app_context():
        # Endpoints of an earlier run are switched off: only this run's receiver listens.
        db.session.execute(sa.update(WebhookEndpoint).values(active=False))
        _, secret = add_endpoint(f"http://127.0.0.1:{port}/hooks", ["contact.created"])
        for number in range(1, count + 1):
            emit("contact.created", subject_id=f"p{number}")
        db.session.commit()
        db.session.remove()
    return secret


def delivered_once(app: Flask, count: int) -> int:
    """Deliveries delivered on the first try (each row says how many tries it took)."""
    from consentapp.extensions import db

    with app.app_context():
        found = db.session.execute(
            sa.text(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' AND attempts = 1"
            )
        ).scalar_one()
        db.session.remove()
    return int(found)


def by_worker(app: Flask, env: dict[str, str], count: int) -> Delivered:
    port = free_port()
    secret = queue_deliveries(app, port, count)
    receiver = Receiver.start(port, secret)
    try:
        started = time.time()
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            receiver.wait_for(count, worker)
        finally:
            stop(worker)
        stats = receiver.stats()
    finally:
        stop(receiver.process)
    rate = count / (stats["last"] - started)
    spread = count / max(stats["last"] - stats["first"], 1e-9)
    return Delivered(
        "worker process (`flask --app wsgi worker`)",
        rate,
        stats,
        f"{spread:.0f}/s from the first arrival to the last (start-up left out)",
    )


def by_job(app: Flask, count: int) -> Delivered:
    from consentapp.services.webhook_delivery import BATCH, deliver_webhooks

    port = free_port()
    secret = queue_deliveries(app, port, count)
    receiver = Receiver.start(port, secret)
    passes = 0
    try:
        started = time.perf_counter()
        with app.app_context():
            while deliver_webhooks():
                passes += 1
        seconds = time.perf_counter() - started
        stats = receiver.stats()  # every post was answered before its pass returned
    finally:
        stop(receiver.process)
    return Delivered(
        "delivery job `deliver_webhooks`, passes back to back",
        count / seconds,
        stats,
        f"{passes} passes of up to {BATCH}",
    )


def by_raw_loop(count: int) -> Delivered:
    from standardwebhooks import Webhook

    from consentapp.services.outgoing_webhooks import new_secret

    secret = new_secret()
    hook = Webhook(secret)
    now = dt.datetime.now(dt.UTC)
    ready = []
    for number in range(1, count + 1):
        message_id = f"msg_raw{number:08d}"
        body = json.dumps(
            {
                "data": {"contact": f"p{number}"},
                "timestamp": now.isoformat(),
                "type": "contact.created",
            },
            separators=(",", ":"),
        )
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": hook.sign(message_id, now, body),
        }
        ready.append((body.encode(), headers))
    port = free_port()
    receiver = Receiver.start(port, secret)
    try:
        started = time.perf_counter()
        for data, headers in ready:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("POST", "/hooks", body=data, headers=headers)
                response = connection.getresponse()
                response.read()
            finally:
                connection.close()
        seconds = time.perf_counter() - started
        stats = receiver.stats()
    finally:
        stop(receiver.process)
    return Delivered(
        "baseline: raw http.client loop, bodies signed beforehand", count / seconds, stats
    )


def measure_webhooks(url: str, work: Path, name: str, count: int) -> tuple[list[Delivered], int]:
    instance = work / f"instance-{name}-hooks"
    app = make_app(url, instance)
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True  # the receiver is on 127.0.0.1
    fill(app, count)
    env = worker_env(url, instance)
    results = [by_worker(app, env, count), by_job(app, count)]
    once = delivered_once(app, 2 * count)
    results.append(by_raw_loop(count))
    with app.app_context():
        from consentapp.extensions import db

        db.engine.dispose()
    return results, once


# The runs --------------------------------------------------------------------------------


def worker_env(url: str, instance: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": url,
        "CONSENTAPP_INSTANCE": str(instance),
        "RATELIMIT_ENABLED": "false",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "WORKER_POLL_SECONDS": "1",
        "DASHBOARD_MAX_AGE_SECONDS": "3600",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": "9",
    }


@dataclass
class Backend:
    name: str
    fill_seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    deliveries: list[Delivered] = field(default_factory=list)
    delivered_once: int = 0
    missing: str = ""


def api_token(app: Flask) -> str:
    from consentapp.extensions import db
    from consentapp.models import ApiScope
    from consentapp.services.api_tokens import issue_token

    with app.app_context():
        secret = issue_token("benchmark", [ApiScope.CONTACTS_READ], "bench.api").secret
        db.session.remove()
    return secret


def run_backend(name: str, contacts: int, requests: int, deliveries: int, work: Path) -> Backend:
    from consentapp.extensions import db
    from tests.services import PostgresServer, find_postgres_bindir

    backend = Backend(name)
    server = None
    if name == "sqlite":
        url, hooks_url = (f"sqlite:///{work / f'{n}.sqlite3'}" for n in ("api", "hooks"))
    else:
        bindir = find_postgres_bindir()
        if bindir is None:
            backend.missing = "PostgreSQL not installed"
            return backend
        server = PostgresServer(bindir)
        server.start()
        url, hooks_url = server.create_database("api"), server.create_database("hooks")
    try:
        instance = work / f"instance-{name}"
        app = make_app(url, instance)
        backend.fill_seconds = fill(app, contacts)
        print(f"{name}: filled {contacts:,} contacts in {backend.fill_seconds:.0f} s", flush=True)
        token = api_token(app)
        with app.app_context():
            db.engine.dispose()
        backend.rows = measure_api(url, worker_env(url, instance), token, contacts, requests)
        backend.deliveries, backend.delivered_once = measure_webhooks(
            hooks_url, work, name, deliveries
        )
        for way in backend.deliveries:
            print(f"  {way.how}: {way.rate:.0f}/s {way.stats}", flush=True)
    finally:
        if server is not None:
            server.stop()
    return backend


# The report ------------------------------------------------------------------------------


def api_table(backends: list[Backend]) -> list[str]:
    lines = [
        "| backend | call | calls | p50 ms | p99 ms | p50 / baseline p50 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for backend in backends:
        if backend.missing:
            lines.append(f"| {backend.name} | {backend.missing} | | | | |")
            continue
        base = backend.rows[-1].percentile(0.5)
        for row in backend.rows:
            lines.append(
                f"| {backend.name} | {row.what} | {len(row.samples)} | "
                f"{row.percentile(0.5):.1f} | {row.percentile(0.99):.1f} | "
                f"{row.percentile(0.5) / base:.1f} |"
            )
    return lines


def webhook_table(backends: list[Backend], count: int) -> list[str]:
    lines = [
        "| backend | delivered by | deliveries/s | ratio to baseline | arrived once and verified"
        " | notes |",
        "|---|---|---:|---:|---|---|",
    ]
    for backend in backends:
        if not backend.deliveries:
            continue
        base = backend.deliveries[-1].rate
        for way in backend.deliveries:
            s = way.stats
            check = (
                f"yes ({s['distinct']:,} ids)"
                if way.exactly_once(count)
                else f"NO: {s['verified']:,} verified, {s['distinct']:,} ids, "
                f"{s['repeated']} repeated, {s['bad']} bad"
            )
            lines.append(
                f"| {backend.name} | {way.how} | {way.rate:.0f} | {way.rate / base:.2f} "
                f"| {check} | {way.note} |"
            )
    return lines


def results(args: argparse.Namespace, backends: list[Backend], took: float) -> str:
    fills = ", ".join(f"{b.name} {b.fill_seconds / 60:.1f} min" for b in backends if not b.missing)
    once = ", ".join(
        f"{b.name} {b.delivered_once:,} of {2 * args.deliveries:,}"
        for b in backends
        if b.deliveries
    )
    lines = [
        f"# REST API with {args.contacts:,} contacts, and outgoing webhook delivery",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {took / 60:.0f} minutes in all.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. Other work "
        "shared the two cores during the run, so the figures are on the slow side and the "
        "p99 column is noisy. PostgreSQL is a throw-away server started by the benchmark "
        "(fsync off).",
        "",
        f"Command: `.venv/bin/python -m bench.api --contacts {args.contacts} --backends "
        f"{args.backends} --requests {args.requests} --deliveries {args.deliveries}` "
        "(also `make bench`).",
        "",
        "## API calls",
        "",
        "A fresh database per backend, filled as `bench.dashboard` fills it "
        f"({args.contacts:,} contacts, 1.5 subscriptions and 2 ledger rows each on average; "
        f"fill took {fills}). The real app under gunicorn (`-w 2`, sync workers, "
        "`CONSENTAPP_ENV=testing`, rate limit off), a token with `contacts:read`, one client "
        "calling over HTTP with `Authorization: Bearer`, one call at a time, a new "
        "connection each (gunicorn's sync workers close it). Latency from connect to last "
        f"byte. Up to {args.requests} calls per row after one warm-up call, fewer (at least "
        f"{MIN_SAMPLES}) when they take over {BUDGET_SECONDS:.0f} s: the `calls` column "
        "says how many; with fewer than 100 the p99 is the slowest call. Addresses, names "
        "and ids are picked at random per call. The deep pages follow `next_cursor` "
        f"{DEEP} times at `limit={PAGE}` first (offset {DEEP * PAGE:,}). Every API call "
        "also writes its `api.call` audit entry (and the token's `last_used_at`) and "
        "commits, before the lookup.",
        "",
        "Baseline: a bare Flask app under the same gunicorn settings answering the lookup "
        "by e-mail with one indexed SQL query (`SELECT ... FROM contacts WHERE email = :email`)"
        " as JSON: no token, no audit, no validation.",
        "",
        *api_table(backends),
        "",
        "## Webhook delivery",
        "",
        f"Per backend a small database of its own ({args.deliveries:,} contacts, filled the "
        f"same way). {args.deliveries:,} `contact.created` deliveries to one endpoint, queued "
        "with `outgoing_webhooks.emit` as the app queues them, posted to a local receiver "
        "in its own process (`http.server`, threads) that checks every signature with "
        "`standardwebhooks.Webhook.verify` and counts each `webhook-id`. "
        "`WEBHOOK_ALLOW_PRIVATE_TARGETS=true` (the receiver is on 127.0.0.1).",
        "",
        "- **worker process**: the real `flask --app wsgi worker` (`WORKER_POLL_SECONDS=1`), "
        "timed from its start to the last arrival.",
        "- **delivery job**: `webhook_delivery.deliver_webhooks` called again as soon as a "
        "pass returns, in one process, on a second endpoint with its own queue.",
        "- **baseline**: a raw loop of `http.client` POSTs of bodies signed beforehand, a new "
        "connection each (as the delivery opens one per delivery), to the same receiver.",
        "",
        *webhook_table(backends, args.deliveries),
        "",
        f"Deliveries marked delivered on their first try in the database: {once}.",
        "",
        "## Reading the figures",
        "",
        *READING,
    ]
    return "\n".join(lines) + "\n"


READING = [
    "- Every API call pays for its audit entry (`api.call`, and the token's "
    "`last_used_at`): a write and a commit before the lookup. That is most of the gap "
    "to the baseline for the indexed calls (`?email=`, `/contacts/<id>`).",
    "- `?q=` uses the staff search's rule (`search_text LIKE '%text%'`), newest first "
    "(by id). On SQLite the trigram table `contacts_search` (FTS5, migration 0013) "
    "hands over the few contacts that have every trigram of the text and the `LIKE` "
    "keeps those that contain it; a text whose trigrams are in more than 5,000 "
    "contacts is read with the `LIKE` alone, from the newest, which fills its page "
    "early. On PostgreSQL the trigram index (`pg_trgm`, migration 0006) finds the "
    "matches.",
    "- Lists page with a keyset cursor (the id after which the next page starts): a "
    "deep page costs about what the first does, and walking the whole list reads "
    "each row once.",
    "- Webhook delivery by the worker is capped by its schedule, not by the network: "
    "the `outgoing_webhooks` job runs once per `WORKER_POLL_SECONDS` (an integer, at "
    "least 1 s) and delivers at most `BATCH` = 50 deliveries a pass. So one worker "
    "delivers at most 50 a second, whatever the receiver can take. The job called "
    "back to back shows what one process could do: per delivery it claims the row "
    "(a conditional UPDATE), builds and signs the body, opens a new connection "
    "(resolving and checking the address), and records the answer with its own "
    "commit. The raw loop only posts ready bytes.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=200, help="calls per measured row")
    parser.add_argument("--deliveries", type=int, default=5000, help="webhook deliveries")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "SECRET"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=PROJECT / "bench" / "RESULTS-api.md")
    args = parser.parse_args()
    if args.receiver:
        run_receiver(int(args.receiver[0]), args.receiver[1])
        return
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="consentapp-bench-") as tmp:
        backends = [
            run_backend(name.strip(), args.contacts, args.requests, args.deliveries, Path(tmp))
            for name in args.backends.split(",")
        ]
    report = results(args, backends, time.monotonic() - started)
    print(report)
    args.output.write_text(report)


if __name__ == "__main__":
    main()
