"""Real servers for the test session: PostgreSQL, Redis and an SMTP server (aiosmtpd),
and the worker processes tests start against them.

Each starts once per session on a free port in a temporary directory and is
stopped at the end. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import NoReturn

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from flask import Flask

from consentapp.mail.sink import MailSink, start_sink


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RejectingSink(MailSink):
    """A sink that refuses chosen recipients with a permanent 550, like a real server."""

    def __init__(self) -> None:
        super().__init__()
        self.reject = self.refuse
        self.greylist: set[str] = set()
        self.full: set[str] = set()

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.lower() in self.greylist:
            return "450 4.2.0 Greylisted, try again later"
        if address.lower() in self.full:
            return "552 5.2.2 Mailbox full"
        return await super().handle_RCPT(server, session, envelope, address, options)


class SMTPServer:
    """An aiosmtpd server on a fixed free port that tests can stop and start again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RejectingSink()
        self.controller: Controller | None = None

    def start(self) -> None:
        if self.controller is None:
            self.controller = start_sink("127.0.0.1", self.port, self.handler)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope named `address` as a recipient."""
        messages = self.handler.messages
        return [
            message
            for message, envelope in zip(messages, self.handler.envelopes, strict=False)
            if address in envelope.rcpt_tos
        ]

    def raw_to(self, address: str) -> list[bytes]:
        """The bytes exactly as received, of messages whose envelope named `address`."""
        return [
            envelope.original_content or b""
            for envelope in list(self.handler.envelopes)
            if address in envelope.rcpt_tos
        ]

    def reset(self) -> None:
        self.handler.clear()
        self.handler.reject.clear()
        self.handler.greylist.clear()
        self.handler.full.clear()
        self.start()


class Needed:
    """A real service some tests need, and what its CONSENTAPP_TEST_* variable says:
    `off` skips them, `required` (CI) makes a missing service a failure, anything else
    skips them while it is missing."""

    def __init__(self, variable: str, what: str) -> None:
        self.variable = variable
        self.what = what
        self.mode = os.environ.get(variable, "auto").strip().lower()

    def skip_if_off(self) -> None:
        if self.mode == "off":
            pytest.skip(f"{self.what} switched off ({self.variable}=off)")

    def missing(self, reason: str) -> NoReturn:
        if self.mode == "required":
            pytest.fail(f"{self.what} required ({self.variable}=required): {reason}")
        pytest.skip(reason)


POSTGRES = Needed("CONSENTAPP_TEST_POSTGRES", "PostgreSQL backend")
REDIS = Needed("CONSENTAPP_TEST_REDIS", "Redis tests")
BROWSER = Needed("CONSENTAPP_TEST_BROWSER", "browser tests")


def postgres_bindir() -> Path:
    """Where PostgreSQL's programs are, or the skip (or failure) POSTGRES calls for."""
    POSTGRES.skip_if_off()
    bindir = find_postgres_bindir()
    if bindir is None:
        POSTGRES.missing("PostgreSQL is not installed")
    return bindir


def find_postgres_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl, if PostgreSQL is installed."""
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found and Path(found).resolve().parent.joinpath("pg_ctl").exists():
            return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


class PostgresServer:
    """A throw-away PostgreSQL cluster: fsync off, trust auth, loopback only."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="consentapp-pg-"))
        self.datadir = self.root / "data"
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, args: Sequence[str]) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        self.resume()

    def resume(self) -> None:
        """Start the server on the cluster made by `start` (again, after `halt`)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-o",
                options,
                "-l",
                str(self.root / "server.log"),
                "-w",
                "start",
            ]
        )

    def create_database(self, name: str) -> str:
        """Create database `name` and return its SQLAlchemy URL."""
        self._run(
            [
                str(self.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                name,
            ]
        )
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def halt(self, mode: str = "fast") -> None:
        """Stop the server as an operator restarting it would, keeping its data."""
        self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def stop(self) -> None:
        try:
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "stop"]
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A throw-away redis-server on a free port, no persistence."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="consentapp-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.root),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


PROJECT_DIR = Path(__file__).resolve().parent.parent


def worker_env(app: Flask, smtp_server: SMTPServer, **extra: str) -> dict[str, str]:
    """The environment of a `flask worker` process on the app's database and mail server."""
    return {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "CONSENTAPP_INSTANCE": app.instance_path,
        "WORKER_POLL_SECONDS": "1",
        **extra,
    }


def start_workers(
    app: Flask, smtp_server: SMTPServer, broker: str, count: int, **extra: str
) -> list[subprocess.Popen[bytes]]:
    """`count` Celery worker processes on the app's database, the broker and the mail server."""
    env = {
        **os.environ,
        "CONSENTAPP_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CONSENTAPP_INSTANCE": app.instance_path,
        "CELERY_BROKER_URL": broker,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_BATCH_SIZE": "25",
        **extra,
    }
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "consentapp.celery_worker",
                "worker",
                "--pool",
                "solo",
                "--hostname",
                f"test{number}@%h",
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for number in range(count)
    ]
