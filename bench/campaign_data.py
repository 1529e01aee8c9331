"""The parts of bench/campaign.py around the worker: the counting SMTP sink (its own
process), the two baseline senders, the databases (SQLite file, throwaway PostgreSQL
cluster), the seeded campaign and the DKIM keys."""

from __future__ import annotations

import contextlib
import io
import smtplib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
SENDER = "news@crm.example"


# The sink ---------------------------------------------------------------------------------


def run_sink(port: int, state: Path) -> None:
    """The SMTP sink process: accepts everything and counts messages per recipient from
    the RCPT TO envelope only (no message is parsed). Every 0.1 s it writes
    `generation total distinct` to `state`; writing a new generation number to
    `state.reset` clears the counts (only between runs, when nothing is sending)."""
    from aiosmtpd.controller import Controller

    class Counting:
        def __init__(self) -> None:
            self.per_recipient: Counter[str] = Counter()
            self.total = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            for address in envelope.rcpt_tos:
                self.per_recipient[address] += 1
            self.total += len(envelope.rcpt_tos)
            return "250 OK"

    handler = Counting()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    reset, generation = state.with_suffix(".reset"), "0"
    try:
        while True:
            wanted = reset.read_text().strip() if reset.exists() else "0"
            if wanted != generation:
                handler.per_recipient.clear()
                handler.total, generation = 0, wanted
            line = f"{generation} {handler.total} {len(handler.per_recipient)}"
            scratch = state.with_suffix(".tmp")
            scratch.write_text(line)
            scratch.replace(state)
            time.sleep(0.1)
    finally:
        controller.stop()


@dataclass
class Sink:
    """The main process's view of the sink process."""

    port: int
    state: Path
    generation: int = 0

    def counts(self) -> tuple[int, int]:
        """(messages received, distinct recipients) since the last reset."""
        for _ in range(100):
            parts = self.state.read_text().split() if self.state.exists() else []
            if len(parts) == 3 and parts[0] == str(self.generation):
                return int(parts[1]), int(parts[2])
            time.sleep(0.05)
        raise RuntimeError("the SMTP sink does not answer")

    def reset(self) -> None:
        self.generation += 1
        self.state.with_suffix(".reset").write_text(str(self.generation))
        self.counts()

    def settled(self) -> tuple[int, int]:
        """The counts once they stopped changing (the last messages are in)."""
        last = self.counts()
        while True:
            time.sleep(0.3)
            now = self.counts()
            if now == last:
                return now
            last = now


# The baselines ----------------------------------------------------------------------------


def plain_loop(port: int, count: int) -> float:
    """Seconds for a plain smtplib loop to build (with `email.message.EmailMessage`, the
    standard library's mail API) and send `count` similar messages."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for number in range(1, count + 1):
            message = EmailMessage()
            message["From"] = f"CRM <{SENDER}>"
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
        for number in range(1, count + 1):
            raw = PREBUILT.format(number=number).encode()
            smtp.sendmail(SENDER, [f"reader{number}@example.be"], raw)
    return time.perf_counter() - started


def worker_bytes(work: Path) -> bytes:
    """The bytes the worker sends for this benchmark's campaign (unsigned): one recipient
    queued in a scratch database, composed by the worker's own composer."""
    import sqlalchemy as sa

    from consentapp import create_app
    from consentapp.config import TestingConfig
    from consentapp.extensions import db
    from consentapp.mail.leases import OUTGOING_COLUMNS, Outgoing
    from consentapp.mail.transport import Composer
    from consentapp.services.campaign_sending import run_due_campaigns

    url, instance = f"sqlite:///{work / 'bytes.sqlite3'}", work / "instance-bytes"
    prepare(url, instance, 1)
    app = create_app(TestingConfig({"DATABASE_URL": url, "CONSENTAPP_INSTANCE": str(instance)}))
    with app.app_context():
        try:
            run_due_campaigns()
            row = db.session.execute(sa.select(*OUTGOING_COLUMNS).limit(1)).one()
            return Composer(app.config).message_bytes(Outgoing(**row._mapping))
        finally:
            db.session.remove()
            db.engine.dispose()


def same_bytes_loop(port: int, count: int, ready: bytes) -> float:
    """Seconds to send `count` times the worker's own message bytes, ready-made, each to
    its own recipient: the SMTP ceiling for exactly these messages."""
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for number in range(1, count + 1):
            smtp.sendmail(SENDER, [f"reader{number}@example.be"], ready)
    return time.perf_counter() - started


# The databases ----------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, work: Path) -> Iterator[tuple[str | None, str]]:
    """(a URL factory's base, the backend's description): for SQLite the directory's
    files, for PostgreSQL a throwaway cluster (None and why, when not installed)."""
    if backend == "sqlite":
        yield "sqlite", "SQLite " + sqlite_version()
        return
    from tests.services import PostgresServer, find_postgres_bindir

    bindir = find_postgres_bindir()
    if bindir is None:
        yield None, "PostgreSQL not installed: skipped"
        return
    server = PostgresServer(bindir)
    try:
        server.start()
        yield f"pg:{server.port}", postgres_version(server.create_database("version"))
    finally:
        server.stop()


def new_url(base: str, work: Path, name: str) -> str:
    """A fresh, empty database called `name` on the backend `base`."""
    if base == "sqlite":
        return f"sqlite:///{work / (name + '.sqlite3')}"
    import subprocess

    from tests.services import find_postgres_bindir

    port = base.split(":", 1)[1]
    bindir = find_postgres_bindir()
    assert bindir is not None
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", port, "-U", "postgres", name],
        check=True,
        capture_output=True,
    )
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def postgres_version(url: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return "PostgreSQL " + str(connection.execute(sa.text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def prepare(url: str, instance: Path, count: int) -> None:
    """Migrate, seed topics and notice, add `count` confirmed subscribers (with their
    ledger rows, as bench/load_data.py writes them), write one campaign and schedule it
    for now: the worker queues and sends it."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bench.load_data import TOPIC_ID, add_subscribers
    from consentapp import create_app
    from consentapp.config import TestingConfig
    from consentapp.extensions import db
    from consentapp.models import Campaign, Topic
    from consentapp.seed import seed_notice, seed_topics
    from consentapp.services.campaign_drafts import create_campaign
    from consentapp.services.campaigns import schedule

    app = create_app(TestingConfig({"DATABASE_URL": url, "CONSENTAPP_INSTANCE": str(instance)}))
    with app.app_context():
        try:
            with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
                upgrade()
            seed_topics()
            seed_notice()
            db.session.commit()
            add_subscribers(db.engine, count)
            topic = db.session.get(Topic, TOPIC_ID)
            assert topic is not None
            campaign = create_campaign(
                topic,
                "Onderhoud zaterdag",
                "Zaterdag is er **onderhoud** aan de servers.\n\n" * 5,
                "Maintenance on Saturday",
                "On Saturday the servers get **maintenance**.\n\n" * 5,
                None,
            )
            schedule(campaign, None, None)
            assert db.session.scalar(sa.select(Campaign.status)) == "scheduled"
        finally:
            db.session.remove()
            db.engine.dispose()


# DKIM -------------------------------------------------------------------------------------


def dkim_settings(work: Path) -> dict[str, dict[str, str]]:
    """Environment settings by signing mode: none, RSA 2048, RSA 2048 + Ed25519."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "rsa.pem").write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    (work / "ed25519.pem").write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    rsa_env = {
        "DKIM_DOMAIN": "crm.example",
        "DKIM_SELECTOR": "news",
        "DKIM_KEY_PATH": str(work / "rsa.pem"),
    }
    ed_env = {
        "DKIM_ED25519_SELECTOR": "news-ed",
        "DKIM_ED25519_KEY_PATH": str(work / "ed25519.pem"),
    }
    return {"off": {}, "RSA": rsa_env, "RSA+Ed25519": {**rsa_env, **ed_env}}
