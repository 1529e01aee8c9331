"""How fast a campaign goes out, next to a plain smtplib loop, and how much memory the
worker needs.

    .venv/bin/python -m bench.campaign [--sizes 10000,100000]

For each size: a fresh SQLite database with that many confirmed subscribers, one
campaign queued by the app, then the real `flask --app wsgi worker` process delivers
it to a local SMTP sink (aiosmtpd, in its own process). Beside it, in the same run, a
plain smtplib loop sends the same number of similar messages to the same sink over
one connection. Reports messages per second of both, their ratio, and the worker's
peak memory (VmHWM). Writes bench/RESULTS.md. Not a test: nothing asserts a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))


def run_sink(port: int, counter_path: str) -> None:
    """The SMTP sink process: accepts everything, counts, parses nothing."""
    from aiosmtpd.controller import Controller

    class Counting:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            self.count += 1
            if self.count % 500 == 0:
                Path(counter_path).write_text(str(self.count))
            return "250 OK"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(0.2)
            Path(counter_path).write_text(str(handler.count))
    finally:
        controller.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_loop(port: int, count: int) -> float:
    """Seconds for a plain smtplib loop to send `count` similar messages."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for number in range(count):
            message = EmailMessage()
            message["From"] = "CRM <news@crm.example>"
            message["To"] = f"reader{number}@example.be"
            message["Subject"] = "Onderhoud zaterdag"
            message["List-Unsubscribe"] = f"<http://localhost/unsubscribe/{number:040d}>"
            message.set_content("Zaterdag is er onderhoud aan de servers.\n" * 5)
            message.add_alternative(
                "<p>Zaterdag is er <strong>onderhoud</strong>.</p>" * 5, subtype="html"
            )
            smtp.send_message(message)
    return time.perf_counter() - started


def prepare(database: Path, instance: Path, count: int) -> float:
    """Migrate, add `count` subscribers, queue one campaign. Returns queueing seconds."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from config import TestingConfig
    from consentapp import create_app
    from consentapp.cli import seed_notice, seed_topics
    from consentapp.extensions import db
    from consentapp.models import Campaign, Topic
    from consentapp.services import campaigns

    app = create_app(
        TestingConfig(
            {"DATABASE_URL": f"sqlite:///{database}", "CONSENTAPP_INSTANCE": str(instance)}
        )
    )
    with app.app_context():
        upgrade()
        seed_topics()
        seed_notice()
        db.session.commit()
        series = f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s"
        db.session.execute(
            sa.text(
                "INSERT INTO contacts (public_id, email, name, company, address, phone, fax, language, "
                "source_channel, created_at, updated_at, search_text) "
                f"SELECT 'p' || n, 'reader' || n || '@example.be', '', '', '', '', '', "
                f"CASE WHEN n % 4 = 0 THEN 'en' ELSE 'nl' END, 'web_form', datetime('now'), datetime('now'), '' FROM ({series})"
            )
        )
        db.session.execute(
            sa.text(
                "INSERT INTO subscriptions (contact_id, topic_id, status, requested_at, confirmed_at, updated_at) "
                f"SELECT n, 2, 'confirmed', datetime('now'), datetime('now'), datetime('now') FROM ({series})"
            )
        )
        db.session.commit()
        topic = db.session.scalar(sa.select(Topic).where(Topic.id == 2))
        assert topic is not None
        campaign = campaigns.create_campaign(
            topic,
            "Onderhoud zaterdag",
            "Zaterdag is er **onderhoud** aan de servers.\n\n" * 5,
            "Maintenance on Saturday",
            "On Saturday the servers get **maintenance**.\n\n" * 5,
            None,
        )
        started = time.perf_counter()
        campaigns.schedule(campaign, None, None)
        while campaigns.run_due_campaigns():
            pass
        seconds = time.perf_counter() - started
        assert db.session.scalar(sa.select(Campaign.recipients)) == count
        db.engine.dispose()
    return seconds


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(
    database: Path, instance: Path, port: int, count: int, counter: Path
) -> tuple[float, float]:
    """Seconds until the worker delivered `count` messages, and its peak memory in MB."""
    env = {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{database}",
        "CONSENTAPP_INSTANCE": str(instance),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port),
        "MAIL_BATCH_SIZE": "200",
        "WORKER_POLL_SECONDS": "1",
    }
    baseline = int(counter.read_text() or 0)
    started = time.perf_counter()
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0.0
    try:
        while int(counter.read_text() or 0) - baseline < count:
            peak = max(peak, peak_memory_mb(worker.pid))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        peak = max(peak, peak_memory_mb(worker.pid))
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "COUNTER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.set_event_loop(asyncio.new_event_loop())
        run_sink(int(args.sink[0]), args.sink[1])
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="consentapp-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        counter = work / "count"
        counter.write_text("0")
        sink = subprocess.Popen(
            [sys.executable, "-m", "bench.campaign", "--sink", str(port), str(counter)], cwd=PROJECT
        )
        time.sleep(1.5)
        try:
            for size in sizes:
                database, instance = work / f"bench-{size}.sqlite3", work / f"instance-{size}"
                queueing = prepare(database, instance, size)
                app_seconds, peak = run_worker(database, instance, port, size, counter)
                plain_seconds = plain_loop(port, size)
                app_rate, plain_rate = size / app_seconds, size / plain_seconds
                rows.append((size, queueing, app_rate, plain_rate, app_rate / plain_rate, peak))
                print(
                    f"{size}: app {app_rate:.0f}/s, plain {plain_rate:.0f}/s, peak {peak:.0f} MB",
                    flush=True,
                )
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    lines = [
        "# Campaign delivery benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. SQLite database; a local aiosmtpd sink in its own process.",
        "",
        f"Command: `.venv/bin/python -m bench.campaign --sizes {args.sizes}` (also `make bench`).",
        "",
        "| recipients | queueing (s) | consentapp worker (msg/s) | plain smtplib loop (msg/s) | ratio | worker peak memory (MB) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {size:,} | {queueing:.1f} | {app:.0f} | {plain:.0f} | {ratio:.2f} | {peak:.0f} |"
        for size, queueing, app, plain, ratio, peak in rows
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    (PROJECT / "bench" / "RESULTS.md").write_text(report)


if __name__ == "__main__":
    main()
