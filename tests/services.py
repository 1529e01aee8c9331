"""Real servers for the test session: PostgreSQL, Redis, Dovecot (IMAP and POP3) and an
SMTP server (aiosmtpd), and the worker processes tests start against them.

Each starts once per session on a free port in a temporary directory and is
stopped at the end. PostgreSQL refuses to run as root, so as root it runs as the
`postgres` user; Dovecot, likewise, as its own unprivileged `dovecot` user.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import grp
import imaplib
import ipaddress
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

from consentapp.mail.sink import MailSink, start_sink
from consentapp.models import ApiScope


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
DOVECOT = Needed("CONSENTAPP_TEST_DOVECOT", "Dovecot (IMAP and POP3) tests")


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


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """Ask every worker to stop, wait a while for each, then kill what is left."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


DOVECOT_BINARY = "/usr/sbin/dovecot"


def dovecot_binary() -> str:
    """Where Dovecot is, or the skip (or failure) DOVECOT calls for."""
    DOVECOT.skip_if_off()
    found = shutil.which("dovecot") or (
        DOVECOT_BINARY if os.access(DOVECOT_BINARY, os.X_OK) else None
    )
    if found is None:
        DOVECOT.missing("Dovecot is not installed (Debian: dovecot-imapd dovecot-pop3d)")
    return found


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost that is its own CA, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


DOVECOT_CONFIG = """\
protocols = imap pop3
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = {uid}
last_valid_uid = {uid}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    """A throw-away Dovecot with IMAP, IMAPS, POP3 and POP3S on free ports, a self-signed
    certificate, and users in a passwd file with their maildirs in the temporary directory.

    `bounces` sees the full capabilities; `basic` sees only IMAP4rev1 (no MOVE, no
    UIDPLUS), so the fallbacks of a plain server are tested on the same Dovecot."""

    # Throw-away passwords: one with characters a URL must percent-encode (and IMAP LOGIN
    # cannot carry), one plain ASCII.
    PASSWORDS = {"bounces": "mailbox pässword/@%+", "basic": "plain-password"}

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="consentapp-dovecot-"))
        self.ports = {name: free_port() for name in ("imap", "imaps", "pop3", "pop3s")}
        self.owner = pwd.getpwuid(os.geteuid())
        if os.geteuid() == 0:
            self.owner = pwd.getpwnam("dovecot")
        self.process: subprocess.Popen[bytes] | None = None
        self.ca_file, key = self_signed_certificate(self.root)
        ids = f"{self.owner.pw_uid}:{self.owner.pw_gid}"
        extra = {"bounces": "", "basic": "userdb_imap_capability=IMAP4rev1"}
        (self.root / "passwd").write_text(
            "".join(
                f"{user}:{{PLAIN}}{password}:{ids}::{self.root}/home/{user}::{extra[user]}\n"
                for user, password in self.PASSWORDS.items()
            )
        )
        for directory in ("run", "state", "home/bounces", "home/basic"):
            (self.root / directory).mkdir(parents=True)
        config = DOVECOT_CONFIG.format(
            root=self.root,
            user=self.owner.pw_name,
            group=grp.getgrgid(self.owner.pw_gid).gr_name,
            uid=self.owner.pw_uid,
            cert=self.ca_file,
            key=key,
            **self.ports,
        )
        self.config = self.root / "dovecot.conf"
        self.config.write_text(config)
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    def start(self) -> None:
        """Run Dovecot in the foreground (as the owner of the directory), until `stop`."""
        as_owner: dict[str, object] = {}
        if os.geteuid() == 0:
            as_owner = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        with (self.root / "stderr.log").open("wb") as stderr:
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                [self.binary, "-F", "-c", str(self.config)],
                cwd=self.root,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                **as_owner,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if all(self._listening(port) for port in self.ports.values()):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    @staticmethod
    def _listening(port: int) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def log(self) -> str:
        return "".join(
            path.read_text(errors="replace")
            for path in (self.root / "stderr.log", self.root / "dovecot.log")
            if path.exists()
        )

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            self.process = None
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, scheme: str, user: str = "bounces", path: str = "") -> str:
        """The BOUNCE_MAILBOX_URL of `user`'s mailbox over `scheme`, password percent-encoded."""
        secret = quote(self.PASSWORDS[user], safe="")
        return f"{scheme}://{user}:{secret}@127.0.0.1:{self.ports[scheme]}{path}"

    def _imap(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=10)
        secret = f"\0{user}\0{self.PASSWORDS[user]}".encode()
        client.authenticate("PLAIN", lambda _: secret)
        return client

    def deliver(self, raw: bytes, user: str = "bounces", folder: str = "INBOX") -> None:
        """Put a message into a folder of `user`'s mailbox (IMAP APPEND)."""
        client = self._imap(user)
        try:
            client.create(folder)
            status, data = client.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            client.logout()

    def messages(self, user: str = "bounces", folder: str = "INBOX") -> list[bytes]:
        """The messages in a folder that are not deleted, as stored."""
        client = self._imap(user)
        try:
            status, _ = client.select(folder, readonly=True)
            if status != "OK":
                return []
            found = client.uid("SEARCH", "UNDELETED")[1][0].split()
            stored = []
            for uid in found:
                data = client.uid("FETCH", uid, "(BODY.PEEK[])")[1]
                stored.append(bytes(data[0][1]))
            return stored
        finally:
            client.logout()

    def empty(self) -> None:
        """Remove every message and folder of every user (between tests)."""
        for user in self.PASSWORDS:
            client = self._imap(user)
            try:
                for line in client.list()[1]:
                    name = re.sub(r'^\(.*?\) (?:"[^"]*"|NIL) ', "", bytes(line).decode()).strip('"')
                    if name.upper() != "INBOX":
                        client.delete(f'"{name}"')
                count = client.select("INBOX")[1][0]
                if count not in (None, b"0"):
                    client.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
                    client.expunge()
            finally:
                client.logout()


class StartTLSStripper:
    """A man in the middle in front of a plain IMAP or POP3 port: it removes STARTTLS
    (and STLS) from what the server offers and keeps everything the client sent, so a
    test sees whether a password would have crossed the wire in clear."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sent = bytearray()
        threading.Thread(target=self._accept, daemon=True).start()

    def __enter__(self) -> StartTLSStripper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
            threading.Thread(target=self._upward, args=(client, server), daemon=True).start()
            threading.Thread(target=self._downward, args=(server, client), daemon=True).start()

    def _upward(self, client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                self.sent += data
                server.sendall(data)
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _downward(self, server: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError), server, client, server.makefile("rb") as lines:
            for line in lines:
                if line.strip().upper() != b"STLS":
                    client.sendall(re.sub(rb" STARTTLS\b", b"", line, flags=re.IGNORECASE))


class WebhookReceiver:
    """A real HTTP server on a free local port that keeps every request it gets and
    answers with `status` (and `location`, for a redirect); with a certificate and key,
    over HTTPS at https://localhost:port/."""

    def __init__(self, tls: tuple[Path, Path] | None = None) -> None:
        import http.server
        import ssl

        self.received: list[tuple[dict[str, str], str, str]] = []
        self.status = 204
        self.location: str | None = None
        self.reply: bytes | None = None  # the answer's body; by default a line of text
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                receiver.received.append((dict(self.headers.items()), body, self.path))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                reply = receiver.reply
                if reply is None:
                    reply = b"receiver says " + str(receiver.status).encode() + b" " + b"x" * 400
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.url = f"https://localhost:{self.port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, object]]:
        import json

        return [json.loads(body) for _, body, _ in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LiveApp:
    """The app as it runs for real: gunicorn on a free port, production profile, its own
    SQLite database migrated with `flask db upgrade`, seeded with `flask seed`, and a token
    holding every scope made with `flask create-api-token`. `settings` add to or change
    its environment (for instance API_RATE_LIMIT)."""

    def __init__(self, root: Path, smtp_port: int, **settings: str) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{root / 'live.sqlite3'}"
        self.env = {
            **os.environ,
            "CONSENTAPP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": self.database_url,
            "CONSENTAPP_INSTANCE": str(root / "instance"),
            "BASE_URL": self.url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "MAIL_TIMEOUT": "5",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "gunicorn.log"
        self.token = ""

    def flask(self, *args: str) -> str:
        """Run `flask --app wsgi ARGS` as an operator would; its output."""
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"flask {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def create_token(self, name: str, scopes: Sequence[str]) -> str:
        """A new token from `flask create-api-token` (printed on its last line)."""
        return self.flask("create-api-token", name, "--scopes", ",".join(scopes)).splitlines()[-1]

    def start(self) -> None:
        self.flask("db", "upgrade")
        self.flask("seed")
        self.token = self.create_token("every-scope", [scope.value for scope in ApiScope])
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "2"),
                *("--bind", f"127.0.0.1:{self.port}", "wsgi:app"),
            ],
            cwd=PROJECT_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while not self._healthy():
            assert self.process.poll() is None, self.log()
            assert time.monotonic() < deadline, f"gunicorn did not come up: {self.log()}"
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as answer:
                return int(answer.status) == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
