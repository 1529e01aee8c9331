"""Development only: the mailbox page `/dev/mail` shows what the sink received, with
working links, and the access log leaves out static files. Absent everywhere else."""

from __future__ import annotations

import gc
import html
import logging
import re
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from consentapp.extensions import db
from consentapp.mail.sink import MailSink, MailStore, start_sink, store_and_announce
from tests.builders import ADDRESS
from tests.conftest import make_app
from tests.flows import confirm
from tests.helpers import deliver, post_form, subscribed
from tests.services import free_port

MAILBOX_URL = "http://127.0.0.1:5000/dev/mail"


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, MailStore]]:
    """The `mail-sink` of `make run`: a real SMTP server storing into the instance folder."""
    store = MailStore(tmp_path / "instance" / "dev-mail")
    port = free_port()
    controller = start_sink("127.0.0.1", port, MailSink(store_and_announce(store, MAILBOX_URL)))
    yield port, store
    controller.stop()


@pytest.fixture
def dev_app(
    app: Flask, database_url: str, sink: tuple[int, MailStore], tmp_path: Path
) -> Iterator[Flask]:
    """The app as `make run` builds it (on the seeded database), sending to the sink."""
    made = make_app(database_url, sink[0], tmp_path / "instance", ENV_NAME="development")
    yield made
    with made.app_context():  # this app's own connections, closed before the next test
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/dev/mail", "/dev/mail/"])
def test_the_mailbox_does_not_exist_outside_development(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_the_mailbox_shows_a_real_mail_with_a_working_confirmation_link(
    dev_app: Flask, sink: tuple[int, MailStore], capsys: pytest.CaptureFixture[str]
) -> None:
    client = dev_app.test_client()
    assert client.get("/dev/mail").status_code == 200
    post_form(client, "/subscribe", {"email": ADDRESS, "topics": "service-news"})
    deliver(dev_app)
    [stored] = sink[1].latest()
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1, "one short line per mail, not the body"
    assert f"MAIL to {ADDRESS}: {stored.subject}" in printed and MAILBOX_URL in printed

    mailbox = client.get("/dev/mail").get_data(as_text=True)
    assert ADDRESS in mailbox and html.escape(stored.subject) in mailbox
    page = client.get(f"/dev/mail/{stored.name}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert (
        f'sandbox="allow-popups allow-popups-to-escape-sandbox" src="/dev/mail/{stored.name}/html"'
        in text
    )
    links = re.findall(r'<a href="http://localhost(/subscribe/confirm/[^"]+)">', text)
    assert links, "the confirmation link is clickable in the text part"

    frame = client.get(f"/dev/mail/{stored.name}/html")
    policy = frame.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert "/subscribe/confirm/" in frame.get_data(as_text=True)

    assert confirm(client, html.unescape(links[0])) == 200
    assert subscribed(dev_app) == {"service-news": "confirmed"}


def test_the_store_keeps_only_the_last_mails(tmp_path: Path) -> None:
    store = MailStore(tmp_path / "dev-mail", keep=3)
    names = [
        store.save(f"Subject: mail {n}\r\nTo: a@example.be\r\n\r\nbody\r\n".encode())
        for n in range(5)
    ]
    assert [mail.subject for mail in store.latest()] == ["mail 4", "mail 3", "mail 2"]
    assert [mail.name for mail in store.latest()] == names[:1:-1]
    assert store.message("../dev-secret-key") is None


# The development server leaves a served static file for the garbage collector to close.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_development_access_log_leaves_out_static_files(
    dev_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the real development server: a page's line stays, short; its style sheet's goes."""
    server = make_server("127.0.0.1", 0, dev_app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.INFO, logger="werkzeug")
    try:
        for path in ("/static/css/app.css", "/contact", "/static/img/favicon.svg"):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}") as answer:
                assert answer.status == 200
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
        gc.collect()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert lines == ["GET /contact 200"]
