"""How many requests a second consentapp answers under load over HTTP, next to a bare
Flask app measured in the same run.

    .venv/bin/python -m bench.load [--backends sqlite,postgresql] [--subscribers 20000]
                                   [--seconds 10] [--connections 50] [--threads 2] [--quick]

Per backend (SQLite; PostgreSQL as a throw-away cluster on a free port): a fresh database
migrated and seeded with the app's own commands (`flask db upgrade`, `flask seed`,
`flask staff create`), then N confirmed subscribers of one topic added in bulk in the
shape the app writes them (contact, subscription, the requested and confirmed ledger
rows citing the published notice). The app runs under gunicorn (`-w 2`, `wsgi:app`)
with the production profile and rate limits off; beside it the bare app of
bench/bare_app.py under the same gunicorn settings. wrk (50 connections, 2 threads,
10 s a run) sends, each request from a prepared file (bench/wrk.py):

- the RFC 8058 one-click unsubscribe (`POST /unsubscribe/<token>`, body
  `List-Unsubscribe=One-Click`), each request a different subscriber's token, signed by
  the app's own token functions with the server's key; next to it the bare app's
  single-row insert;
- the subscribe form (`POST /subscribe`), each request its own address, with the
  cookie and CSRF token of one of 50 visitor sessions got by a GET of the form;
- the home page (`GET /`), next to the bare app's small page;
- the preferences page from a mailed link (`GET /preferences/<token>`), distinct tokens;
- the staff dashboard (`GET /staff/`) with the session cookie of a staff login.

After the one-click, subscribe and insert runs the rows stored are counted against the
2xx answers. Writes bench/RESULTS-http.md. Not a test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench import load_data as data  # noqa: E402
from bench.bounces import free_port, wait_for_port  # noqa: E402
from bench.wrk import Outcome, run_wrk, write_lines, wrk_path  # noqa: E402

GUNICORN = ["-w", "2", "--log-level", "warning"]
SESSIONS = 50  # visitor sessions the subscribe posts are spread over


@dataclass
class Server:
    """A gunicorn master (and its workers) in a process group of its own."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, app: str, env: dict[str, str], log: Path) -> Server:
        port = free_port()
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *GUNICORN, "-b", f"127.0.0.1:{port}", app],
                cwd=PROJECT,
                env=env,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        server = cls(process, port, log)
        try:
            wait_for_port(port, process)
            for _ in range(8):  # each worker answers once before the clock starts
                data.get(port, "/")
        except BaseException:
            server.stop()
            raise RuntimeError(f"gunicorn {app} did not start: {log.read_text()[-2000:]}") from None
        return server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Row:
    backend: str
    endpoint: str
    outcome: Outcome
    stored: str = ""


@dataclass
class Settings:
    seconds: int
    connections: int
    threads: int
    subscribers: int


class Backend:
    """One database with its app and bare servers, and the runs against them."""

    def __init__(self, name: str, url: str, work: Path, settings: Settings) -> None:
        self.name = name
        self.url = url
        self.work = work
        self.settings = settings
        self.env = data.environ_for(url, work / "instance", secrets.token_urlsafe(48))
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def run(
        self,
        endpoint: str,
        server: Server,
        method: str,
        entries: list[tuple[str, str, str]],
        distinct: bool = True,
    ) -> Row:
        """One wrk run; `distinct`: the requests are meant to differ, so say repeats."""
        lines = self.work / f"{len(self.rows)}.lines"
        write_lines(lines, entries)
        s = self.settings
        outcome = run_wrk(
            server.url,
            method,
            lines,
            seconds=s.seconds,
            connections=s.connections,
            threads=s.threads,
            script=self.work / "requests.lua",
        )
        row = Row(self.name, endpoint, outcome)
        self.rows.append(row)
        print(
            f"  {self.name} {endpoint}: {outcome.rate:.0f} req/s, p50 {outcome.p50_ms:.1f} ms, "
            f"p99 {outcome.p99_ms:.1f} ms, not 2xx {outcome.not_2xx}, socket errors "
            f"{outcome.socket_errors}, repeated lines {outcome.repeated}",
            flush=True,
        )
        if distinct and outcome.repeated:
            self.notes.append(
                f"{self.name}, {endpoint}: {len(entries):,} distinct requests prepared, "
                f"{outcome.built:,} sent, so {outcome.repeated:,} repeated one already sent."
            )
        return row

    def count(self, statement: str) -> int:
        return data.count_rows(self.url, statement)

    def settled(self, statement: str) -> int:
        """The count once it stops changing: wrk stops at its deadline, and the requests
        it had sent and no longer waits for still finish on the server."""
        last = self.count(statement)
        for _ in range(100):
            time.sleep(0.5)
            now = self.count(statement)
            if now == last:
                break
            last = now
        return last

    def measure(self) -> None:
        started = time.perf_counter()
        subscribers = data.prepare(self.env, self.settings.subscribers)
        unsubscribe, preferences = data.signed_links(self.env, subscribers)
        print(
            f"{self.name}: {len(subscribers):,} subscribers ready in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        bare_env = {**self.env, "BARE_SQLITE": "", "BARE_POSTGRES": ""}
        if self.name == "postgresql":
            bare_env["BARE_POSTGRES"] = data.conninfo(self.url)
        else:
            bare_env["BARE_SQLITE"] = self.url.removeprefix("sqlite:///")
        app = Server.start("wsgi:app", self.env, self.work / "app.log")
        try:
            bare = Server.start("bench.bare_app:create()", bare_env, self.work / "bare.log")
            try:
                self.runs(app, bare, unsubscribe, preferences)
            finally:
                bare.stop()
        finally:
            app.stop()

    def runs(
        self, app: Server, bare: Server, unsubscribe: list[str], preferences: list[str]
    ) -> None:
        few = [("/", "", "")] * self.settings.threads
        self.run("home GET /", app, "GET", few, distinct=False)
        self.run("bare GET /", bare, "GET", few, distinct=False)
        self.run(
            "preferences GET /preferences/<token>",
            app,
            "GET",
            [(f"/preferences/{token}", "", "") for token in preferences],
        )
        cookie = data.staff_cookie(app.port)
        dashboard = [("/staff/", "", cookie)] * self.settings.threads
        self.run("staff dashboard GET /staff/", app, "GET", dashboard, distinct=False)

        visitors = "SELECT count(*) FROM contacts WHERE email LIKE 'visitor-%'"
        before = self.count(visitors)
        entries = data.subscribe_requests(app.port, SESSIONS, self.settings.subscribers, self.name)
        row = self.run("subscribe POST /subscribe", app, "POST", entries)
        added = self.settled(visitors) - before
        mails = self.count("SELECT count(*) FROM outbound_emails WHERE kind = 'subscribe_confirm'")
        row.stored = (
            f"{added:,} new contacts, {mails:,} confirmation mails queued / {answered(row.outcome)}"
        )

        body = "List-Unsubscribe=One-Click"
        row = self.run(
            "one-click POST /unsubscribe/<token>",
            app,
            "POST",
            [(f"/unsubscribe/{token}", body, "") for token in unsubscribe],
        )
        withdrawn = "FROM consent_events WHERE action = 'withdrawn' AND channel = 'one_click'"
        rows = self.settled(f"SELECT count(*) {withdrawn}")
        distinct = self.count(f"SELECT count(DISTINCT subject_id) {withdrawn}")
        row.stored = (
            f"{rows:,} withdrawals ({distinct:,} distinct subscribers) / {answered(row.outcome)}"
        )

        row = self.run(
            "bare POST /insert",
            bare,
            "POST",
            [("/insert", f"token=t{number}", "") for number in range(self.settings.subscribers)],
            distinct=False,  # each answer inserts a row, whatever its token
        )
        hits = self.settled("SELECT count(*) FROM bench_hits")
        row.stored = f"{hits:,} rows / {answered(row.outcome)}"


def answered(outcome: Outcome) -> str:
    """The 2xx answers, and the requests still on their way when wrk's time ran out (the
    server finishes them, wrk no longer counts their answers)."""
    return f"{outcome.ok:,} 2xx (+{outcome.built - outcome.requests:,} unanswered at the end)"


def with_database(name: str, work: Path, measure: Callable[[str], None]) -> str:
    """Run `measure` on a fresh database of backend `name`; its version, or why not."""
    if name == "sqlite":
        url = f"sqlite:///{work / 'bench.sqlite3'}"
        measure(url)
        return data.database_version(url)
    from tests.services import PostgresServer, find_postgres_bindir

    bindir = find_postgres_bindir()
    if bindir is None:
        return "PostgreSQL not installed: skipped"
    server = PostgresServer(bindir)
    try:
        server.start()
        url = server.create_database("bench")
        measure(url)
        return data.database_version(url)
    finally:
        server.stop()


def find(rows: list[Row], backend: str, endpoint: str) -> Outcome | None:
    for row in rows:
        if row.backend == backend and row.endpoint.startswith(endpoint):
            return row.outcome
    return None


def ratio(rows: list[Row], backend: str, app: str, bare: str) -> str:
    mine, base = find(rows, backend, app), find(rows, backend, bare)
    if mine is None or base is None or not base.rate:
        return "-"
    return f"{mine.rate / base.rate:.2f}"


def report(
    args: argparse.Namespace, settings: Settings, backends: list[Backend], versions: list[str]
) -> str:
    rows = [row for backend in backends for row in backend.rows]
    command = (
        f".venv/bin/python -m bench.load --backends {args.backends} --subscribers "
        f"{settings.subscribers} --seconds {settings.seconds} --connections "
        f"{settings.connections} --threads {settings.threads}"
    )
    wrk = subprocess.run(
        [wrk_path() or "wrk", "--version"], capture_output=True, text=True, check=False
    )
    lines = [
        "# HTTP load: consentapp next to a bare Flask app",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {', '.join(versions)} (PostgreSQL a throw-away "
        f"cluster with fsync off); {wrk.stdout.split(' Copyright')[0].strip()}. The load client, "
        "the servers and the database share the cores.",
        "",
        f"Command: `{command}` (also `make bench`).",
        "",
        f"gunicorn `-w 2` (sync workers) serves `wsgi:app` with the production profile, "
        f"rate limits off, {settings.subscribers:,} confirmed subscribers; beside it "
        "`bench/bare_app.py` under the same settings. wrk: "
        f"{settings.connections} connections, {settings.threads} threads, "
        f"{settings.seconds} s a run, each request from a prepared list (bench/wrk.py).",
        "",
        "| backend | endpoint | req/s | p50 ms | p99 ms | not 2xx | socket errors | stored / 2xx answers |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.backend} | {r.endpoint} | {r.outcome.rate:,.0f} | {r.outcome.p50_ms:.1f} "
        f"| {r.outcome.p99_ms:.1f} | {r.outcome.not_2xx:,} | {r.outcome.socket_errors:,} | {r.stored} |"
        for r in rows
    ]
    lines += [
        "",
        "| backend | one-click / bare insert | home / bare GET |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {b.name} | {ratio(rows, b.name, 'one-click', 'bare POST')} "
        f"| {ratio(rows, b.name, 'home', 'bare GET')} |"
        for b in backends
    ]
    notes = [note for backend in backends for note in backend.notes]
    lines += [
        "",
        "Repeats: "
        + (" ".join(notes) if notes else "none; every token and address was sent once."),
    ]
    lines += [
        "",
        "How to read: req/s is completed answers per second over the run; p50 and p99 are "
        "wrk's latency percentiles (the time from writing a request to its answer, "
        f"with {settings.connections} connections waiting on 2 workers, so mostly queueing). "
        "Not 2xx counts answers that came back with another status (3xx included), socket "
        "errors the connections wrk could not complete (gunicorn's sync workers close each "
        "connection after one answer, so every request opens a new one). The stored column "
        "counts what the database kept afterwards against wrk's 2xx count (added up over "
        "its threads, each counting its own): one withdrawal ledger row per one-click "
        "answer, one new pending contact and one queued confirmation mail per subscribe "
        "answer, one row per bare insert; the requests still unanswered when wrk's time ran "
        "out finish on the server too, so stored should be the 2xx answers plus those. "
        "A repeated one-click token answers 200 and writes "
        "nothing (the link is idempotent). The ratios compare consentapp with the bare app "
        "in the same run on the same machine: what the app's checks, ledger row, templates "
        "and session cost on top of Flask and one insert.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--subscribers", type=int, help="confirmed subscribers (20,000; 2,000 with --quick)"
    )
    parser.add_argument("--seconds", type=int, help="seconds a run (10; 3 with --quick)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a short run while developing")
    args = parser.parse_args()
    settings = Settings(
        seconds=args.seconds or (3 if args.quick else 10),
        connections=args.connections,
        threads=args.threads,
        subscribers=args.subscribers or (2000 if args.quick else 20_000),
    )
    if wrk_path() is None:
        raise SystemExit("bench.load needs wrk: apt-get install wrk (make bench installs it)")
    backends: list[Backend] = []
    versions: list[str] = []
    with tempfile.TemporaryDirectory(prefix="consentapp-load-") as tmp:
        for name in [part.strip() for part in args.backends.split(",") if part.strip()]:
            work = Path(tmp) / name
            work.mkdir()

            def measure(url: str, name: str = name, work: Path = work) -> None:
                backend = Backend(name, url, work, settings)
                backends.append(backend)
                backend.measure()

            versions.append(with_database(name, work, measure))
    text = report(args, settings, backends, versions)
    print(text)
    (PROJECT / "bench" / "RESULTS-http.md").write_text(text)


if __name__ == "__main__":
    main()
