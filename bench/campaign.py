"""How fast a campaign goes out, next to a plain smtplib loop, and how much memory the
worker needs.

    .venv/bin/python -m bench.campaign [--sizes 10000,100000]

For each size: a fresh SQLite database with that many confirmed subscribers and one
campaign scheduled for now, then the real `flask --app wsgi worker` process queues and
delivers it to a local SMTP sink (aiosmtpd, in its own process). Beside it, in the same run, a
plain smtplib loop sends the same number of similar messages to the same sink over
one connection, and a raw loop sends ready-made bytes (the SMTP ceiling). Reports
messages per second of each, the ratios, and the worker's peak memory (VmHWM). Writes bench/RESULTS.md. Not a test: nothing asserts a figure.
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
    """Seconds for a plain smtplib loop to build (with `email.message.EmailMessage`, the
    standard library's mail API) and send `count` similar messages."""
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


PREBUILT = (
    "From: CRM <news@crm.example>\r\nTo: reader{number}@example.be\r\n"
    "Subject: Onderhoud zaterdag\r\n"
    "List-Unsubscribe: <http://localhost/unsubscribe/{number:040d}>\r\n"
    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    + "Zaterdag is er onderhoud aan de servers.\r\n"
    * 5
)


def raw_loop(port: int, count: int) -> float:
    """Seconds to send `count` messages whose bytes are a ready string template: no mail
    building at all, only SMTP. The ceiling for any sender on this machine and sink."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for number in range(count):
            raw = PREBUILT.format(number=number).encode()
            smtp.sendmail("news@crm.example", [f"reader{number}@example.be"], raw)
    return time.perf_counter() - started


def series(count: int) -> str:
    """SQLite rows n = 1..count, for bulk inserts."""
    return f"WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) SELECT n FROM s"


def add_subscribers(count: int) -> None:
    """`count` contacts reader<n>@example.be (every fourth English), each a confirmed
    subscriber of topic 2, in two statements. No commit."""
    import sqlalchemy as sa

    from consentapp.extensions import db

    rows = series(count)
    db.session.execute(
        sa.text(
            "INSERT INTO contacts (public_id, email, name, company, address, phone, fax, language, "
            "source_channel, created_at, updated_at, search_text) "
            f"SELECT 'p' || n, 'reader' || n || '@example.be', '', '', '', '', '', "
            f"CASE WHEN n % 4 = 0 THEN 'en' ELSE 'nl' END, 'web_form', datetime('now'), datetime('now'), '' FROM ({rows})"
        )
    )
    db.session.execute(
        sa.text(
            "INSERT INTO subscriptions (contact_id, topic_id, status, requested_at, confirmed_at, updated_at) "
            f"SELECT n, 2, 'confirmed', datetime('now'), datetime('now'), datetime('now') FROM ({rows})"
        )
    )


def prepare(database: Path, instance: Path, count: int) -> None:
    """Migrate, add `count` subscribers, write one campaign and schedule it for now: the
    worker queues and sends it."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from consentapp import create_app
    from consentapp.config import TestingConfig
    from consentapp.extensions import db
    from consentapp.models import Campaign, Topic
    from consentapp.seed import seed_notice, seed_topics
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
        add_subscribers(count)
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
        campaigns.schedule(campaign, None, None)
        assert db.session.scalar(sa.select(Campaign.status)) == "scheduled"
        db.engine.dispose()


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_worker(
    database: Path,
    instance: Path,
    port: int,
    count: int,
    counter: Path,
    extra_env: dict[str, str] | None = None,
    processes: int = 1,
) -> tuple[float, float]:
    """Seconds until `processes` workers delivered `count` messages, and the largest
    peak memory of one worker in MB."""
    env = {
        **(extra_env or {}),
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
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker"],
            cwd=PROJECT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    peak = 0.0
    try:
        while int(counter.read_text() or 0) - baseline < count:
            peak = max([peak] + [peak_memory_mb(worker.pid) for worker in workers])
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        peak = max([peak] + [peak_memory_mb(worker.pid) for worker in workers])
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    return seconds, peak


def dkim_runs(work: Path, port: int, counter: Path, size: int) -> list[tuple[int, float, float]]:
    """The campaign DKIM-signed with a 2048-bit RSA key, by one worker and by two side by
    side: (workers, messages a second, peak MB of one worker) each."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key_path = work / "dkim.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    env = {"DKIM_DOMAIN": "crm.example", "DKIM_SELECTOR": "news", "DKIM_KEY_PATH": str(key_path)}
    results = []
    for processes in (1, 2):
        database = work / f"bench-dkim-{processes}.sqlite3"
        instance = work / f"instance-dkim-{processes}"
        prepare(database, instance, size)
        seconds, peak = run_worker(database, instance, port, size, counter, env, processes)
        results.append((processes, size / seconds, peak))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument(
        "--dkim", type=int, default=10000, help="recipients of the DKIM-signed run (0: none)"
    )
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "COUNTER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.set_event_loop(asyncio.new_event_loop())
        run_sink(int(args.sink[0]), args.sink[1])
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    signed: list[tuple[int, float, float]] = []
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
                prepare(database, instance, size)
                app_seconds, peak = run_worker(database, instance, port, size, counter)
                plain_seconds = plain_loop(port, size)
                raw_seconds = raw_loop(port, size)
                app_rate, plain_rate = size / app_seconds, size / plain_seconds
                raw_rate = size / raw_seconds
                rows.append((size, app_rate, plain_rate, raw_rate, peak))
                print(
                    f"{size}: app {app_rate:.0f}/s, plain {plain_rate:.0f}/s, "
                    f"raw {raw_rate:.0f}/s, peak {peak:.0f} MB",
                    flush=True,
                )
            if args.dkim:
                signed = dkim_runs(work, port, counter, args.dkim)
                print(f"{args.dkim} signed: {signed}", flush=True)
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    lines = [
        "# Campaign delivery benchmark",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. SQLite database; a local aiosmtpd sink in its own process.",
        "",
        f"Command: `.venv/bin/python -m bench.campaign --sizes {args.sizes} --dkim {args.dkim}` "
        "(also `make bench`).",
        "",
        "- **consentapp worker**: the real `flask --app wsgi worker` process, timed from its "
        "start until the sink has every message. The campaign is scheduled and nothing is "
        "queued yet: the worker queues the recipients in batches of 1,000 (a personal "
        "unsubscribe link each) and sends; per message it re-checks consent, builds and "
        "sends the mail, and commits the outcome.",
        "- **plain loop**: smtplib over one connection, each message built with the standard "
        "library's `EmailMessage`. The goal: consentapp at least 0.8 of this.",
        "- **raw loop**: smtplib sending ready-made bytes from a string template, no mail "
        "building at all: the ceiling of the SMTP exchange itself.",
        "",
        "| recipients | consentapp worker (msg/s) | plain loop (msg/s) | ratio to plain | raw loop (msg/s) | ratio to raw | worker peak memory (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {size:,} | {app:.0f} | {plain:.0f} | {app / plain:.2f} "
        f"| {raw:.0f} | {app / raw:.2f} | {peak:.0f} |"
        for size, app, plain, raw, peak in rows
    ]
    if signed:
        lines += [
            "",
            f"DKIM-signed (2048-bit RSA key, dkimpy), {args.dkim:,} recipients:",
            "",
            "| workers | messages a second | peak memory of one worker (MB) |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {workers} | {rate:.0f} | {peak:.0f} |" for workers, rate, peak in signed]
        lines += [
            "",
            "dkimpy computes the RSA signature in Python, several milliseconds a message, so "
            "signing sets the pace: run more workers (they share the outbox safely), or let "
            "the outgoing relay sign (OpenDKIM).",
        ]
    if len(rows) > 1:
        peaks = [row[-1] for row in rows]
        lines += [
            "",
            f"Peak memory ratio, largest to smallest campaign: {max(peaks) / min(peaks):.2f} "
            "(goal: within 1.2; and under 150 MB).",
        ]
    report = "\n".join(lines) + "\n"
    print(report)
    (PROJECT / "bench" / "RESULTS.md").write_text(report)


if __name__ == "__main__":
    main()
