"""The bounce server (the MX of BOUNCE_DOMAIN), through a real SMTP conversation:
recipients only at the bounce domain, a size limit, no AUTH, and a 250 only once the
report was handed over."""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from consentapp.mail.bounce_server import BounceServer, at_domain, start_bounce_server
from tests.services import free_port

DOMAIN = "bounces.crm.example"
LIMIT = 20_000
DSN = (
    b"From: MAILER-DAEMON@mx.example.net\r\n"
    b"To: b+17.abcdef@bounces.crm.example\r\n"
    b"Subject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <dsn-1@mx.example.net>\r\n"
    b"\r\n"
    b"Final-Recipient: rfc822; gone@example.net\r\n"
    b"Status: 5.1.1\r\n"
)

Received = list[tuple[bytes, list[str], str]]


def _start(callback: Callable[[bytes, list[str]], None]) -> BounceServer:
    return start_bounce_server("127.0.0.1", free_port(), DOMAIN, callback, max_message_bytes=LIMIT)


@pytest.fixture
def received() -> Received:
    return []


@pytest.fixture
def server(received: Received) -> Iterator[BounceServer]:
    def keep(body: bytes, recipients: list[str]) -> None:
        received.append((body, recipients, threading.current_thread().name))

    bounce_server = _start(keep)
    yield bounce_server
    bounce_server.stop()


def _connect(server: BounceServer) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    client.ehlo("mx.example.net")
    return client


def test_a_report_for_the_bounce_domain_is_accepted_and_handed_over(
    server: BounceServer, received: Received
) -> None:
    with _connect(server) as client:
        refused = client.sendmail("", ["b+17.abcdef@bounces.crm.example"], DSN)
    assert refused == {}
    assert len(received) == 1
    body, recipients, thread = received[0]
    assert body == DSN
    assert recipients == ["b+17.abcdef@bounces.crm.example"]
    assert thread.startswith("bounce-report"), "the callback runs off the event loop"


@pytest.mark.parametrize(
    "address",
    [
        "someone@crm.example",
        "b+17.abcdef@sub.bounces.crm.example",
        "b+17.abcdef@bounces.crm.example.evil.example",
        "victim@elsewhere.example",
    ],
)
def test_any_other_recipient_is_refused_at_rcpt(
    server: BounceServer, received: Received, address: str
) -> None:
    with _connect(server) as client:
        client.mail("")
        code, message = client.rcpt(address)
        assert code == 550
        assert message.startswith(b"5.1.1")
        code, _ = client.rcpt("b+1.x@BOUNCES.crm.example")
        assert code == 250, "the domain matches whatever its case"
        client.data(DSN)
    assert [recipients for _, recipients, _ in received] == [["b+1.x@BOUNCES.crm.example"]]


def test_the_domain_match_is_exact() -> None:
    assert at_domain("b+1.x@Bounces.CRM.example", DOMAIN)
    assert at_domain("b+1.x@bounces.crm.example.", DOMAIN)
    assert not at_domain("@bounces.crm.example", DOMAIN)
    assert not at_domain("bounces.crm.example", DOMAIN)
    assert not at_domain("x@a.bounces.crm.example", DOMAIN)
    assert not at_domain("x@xbounces.crm.example", DOMAIN)


def test_a_message_with_only_foreign_recipients_is_never_taken(
    server: BounceServer, received: Received
) -> None:
    with _connect(server) as client, pytest.raises(smtplib.SMTPRecipientsRefused):
        client.sendmail("spammer@example.net", ["victim@elsewhere.example"], DSN)
    assert received == []


def test_a_declared_size_over_the_limit_is_refused_at_mail_from(
    server: BounceServer, received: Received
) -> None:
    big = DSN + b"x" * (LIMIT + 10) + b"\r\n"
    with _connect(server) as client:
        assert client.has_extn("size")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("", ["b+1.x@bounces.crm.example"], big)
    assert refused.value.smtp_code == 552
    assert received == []


def test_an_undeclared_message_over_the_limit_is_refused_after_data(
    server: BounceServer, received: Received
) -> None:
    big = DSN + (b"x" * 998 + b"\r\n") * (LIMIT // 1000 + 2)
    with _connect(server) as client:
        client.mail("")
        client.rcpt("b+1.x@bounces.crm.example")
        code, _ = client.data(big)
    assert code == 552
    assert received == []


def test_no_authentication_is_offered_or_accepted(server: BounceServer) -> None:
    with _connect(server) as client:
        assert not client.has_extn("auth")
        assert not client.has_extn("starttls")
        code, _ = client.docmd("AUTH", "PLAIN AHVzZXIAcGFzcw==")
        assert code >= 500


def test_250_comes_only_once_the_callback_returned() -> None:
    stored: list[bytes] = []

    def slow(body: bytes, recipients: list[str]) -> None:
        time.sleep(0.3)
        stored.append(body)

    server = _start(slow)
    try:
        with _connect(server) as client:
            client.sendmail("", ["b+1.x@bounces.crm.example"], DSN)
            assert stored == [DSN], "a 250 means the report is stored"
    finally:
        server.stop()


def test_a_slow_report_does_not_hold_up_another_connection() -> None:
    release = threading.Event()
    stored: list[bytes] = []

    def waits_for_the_first(body: bytes, recipients: list[str]) -> None:
        if b"first" in body:
            assert release.wait(10)
        else:
            release.set()
        stored.append(body)

    server = _start(waits_for_the_first)

    def send_first() -> None:
        with _connect(server) as client:
            client.sendmail("", ["b+1.x@" + DOMAIN], b"first\r\n")

    try:
        first = threading.Thread(target=send_first)
        first.start()
        time.sleep(0.2)
        with _connect(server) as client:
            client.sendmail("", ["b+2.x@" + DOMAIN], b"second\r\n")
        first.join(10)
        assert stored == [b"second\r\n", b"first\r\n"]
    finally:
        server.stop()


def test_a_failing_callback_answers_451_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(body: bytes, recipients: list[str]) -> None:
        raise RuntimeError("database is away")

    server = _start(broken)
    try:
        with caplog.at_level(logging.ERROR), _connect(server) as client:
            client.mail("")
            client.rcpt("b+1.x@bounces.crm.example")
            code, message = client.data(DSN)
        assert (code, message[:5]) == (451, b"4.3.0")
        assert "database is away" in caplog.text
    finally:
        server.stop()


def test_a_bounce_server_needs_a_domain() -> None:
    with pytest.raises(ValueError, match="BOUNCE_DOMAIN"):
        BounceServer("127.0.0.1", free_port(), " ", lambda body, rcpts: None, max_message_bytes=1)
