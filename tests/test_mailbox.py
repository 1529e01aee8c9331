"""Reading bounce reports from a real Dovecot over IMAP, IMAPS, POP3 and POP3S: each
message is handed over, and removed only once the handler returned."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from consentapp.mail.mailbox import Handler, MailboxError, PollResult, parse_url, poll
from tests.services import DovecotServer, StartTLSStripper


def report(number: int) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\n"
        f"To: b+{number}.abc@bounces.crm.example\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{number}@mx.example.net>\r\n"
        f"\r\n"
        f"Status: 5.1.1 (report {number})\r\n"
    ).encode()


def large(number: int, size: int) -> bytes:
    """A report padded out to `size` bytes."""
    head = report(number)
    return head + b"x" * (size - len(head) - 2) + b"\r\n"


def _poll(
    dovecot: DovecotServer, url: str, handle: Handler, limit: int = 500, **options: Any
) -> PollResult:
    return poll(url, handle, ca_file=str(dovecot.ca_file), timeout=10, limit=limit, **options)


# The URL ---------------------------------------------------------------------------------


def test_a_url_is_read_with_defaults_and_percent_decoding() -> None:
    mailbox = parse_url("imaps://bounce%40crm.example:p%C3%A4ss%2Fw%3Ard@mail.example/INBOX")
    assert (mailbox.scheme, mailbox.host, mailbox.port) == ("imaps", "mail.example", 993)
    assert (mailbox.user, mailbox.password) == ("bounce@crm.example", "päss/w:rd")
    assert mailbox.folder == "INBOX"
    assert "päss" not in str(mailbox) and "päss" not in repr(mailbox)
    assert parse_url("imap://u:p@h").port == 143
    assert parse_url("imap://u:p@h").folder == "INBOX"
    assert parse_url("pop3s://u:p@h").port == 995
    assert parse_url("pop3://u:p@h:1100").port == 1100
    assert parse_url("imap://u:p@h/Bounces").starttls == "required"
    assert parse_url("pop3://u:p@h").starttls == "required"
    assert parse_url("imap://u:p@h/Bounces?starttls=no").starttls == "no"
    assert parse_url("imap://u:p@h/Bounces%20in?move=Done").folder == "Bounces in"
    assert parse_url("imaps://u:p@h/INBOX?move=Processed").move_to == "Processed"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("https://u:p@h/INBOX", "must start with imaps://"),
        ("mail.example", "no scheme"),
        ("imaps://u:p@/INBOX", "names no host"),
        ("imaps://h/INBOX", "needs a user and a password"),
        ("imaps://u@h/INBOX", "needs a user and a password"),
        ("imaps://u:p@h:99999/INBOX", "port"),
        ("imaps://u:p@h:abc/INBOX", "port"),
        ("imaps://u:p@h/INBOX?delete=yes", "unknown options: delete"),
        ("imap://u:p@h/INBOX?starttls=maybe", "starttls must be"),
        ("pop3://u:p@h?starttls=auto", "starttls must be no or required"),
        ("imaps://u:p@h/INBOX?starttls=no", "starttls is for imap:// and pop3://"),
        ("pop3s://u:p@h/?move=Processed", "POP3 has one mailbox"),
        ("pop3s://u:p@h/Other", "POP3 has one mailbox"),
        ("imaps://u:p@h/Bo%C3%AEte", "not plain ASCII"),
    ],
)
def test_a_bad_url_gets_a_clear_message(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as error:
        parse_url(url)
    assert ":p@" not in str(error.value)


# Reading and removing --------------------------------------------------------------------


@pytest.fixture
def two_reports(dovecot: DovecotServer) -> Iterator[DovecotServer]:
    for user in DovecotServer.PASSWORDS:
        dovecot.deliver(report(1), user)
        dovecot.deliver(report(2), user)
    yield dovecot


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s", "pop3"])
@pytest.mark.parametrize("user", ["bounces", "basic"])
def test_each_message_is_handed_over_then_deleted(
    two_reports: DovecotServer, scheme: str, user: str
) -> None:
    """`bounces` has UIDPLUS and a non-ASCII password (AUTHENTICATE PLAIN); `basic` is a
    plain IMAP4rev1 server to us (EXPUNGE) with an ASCII password (LOGIN)."""
    taken: list[bytes] = []
    result = _poll(two_reports, two_reports.url(scheme, user), taken.append)
    assert taken == [report(1), report(2)]
    assert str(result).startswith("2 message(s) taken in")
    assert two_reports.messages(user) == []
    assert _poll(two_reports, two_reports.url(scheme, user), taken.append).handled == 0


@pytest.mark.parametrize("user", ["bounces", "basic"])
def test_move_puts_handled_messages_in_the_folder(two_reports: DovecotServer, user: str) -> None:
    """With MOVE (bounces) and with COPY + delete (basic); the folder is made when missing."""
    taken: list[bytes] = []
    url = two_reports.url("imaps", user, "/INBOX?move=Processed")
    assert _poll(two_reports, url, taken.append).handled == 2
    assert taken == [report(1), report(2)]
    assert two_reports.messages(user) == []
    assert two_reports.messages(user, "Processed") == [report(1), report(2)]
    two_reports.deliver(report(3), user)
    assert _poll(two_reports, url, taken.append).handled == 1
    assert two_reports.messages(user, "Processed") == [report(1), report(2), report(3)]


def test_another_folder_is_read(dovecot: DovecotServer) -> None:
    dovecot.deliver(report(1), folder="Bounces")
    dovecot.deliver(report(2))
    taken: list[bytes] = []
    _poll(dovecot, dovecot.url("imaps", path="/Bounces"), taken.append)
    assert taken == [report(1)]
    assert dovecot.messages() == [report(2)]


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_a_handler_that_raises_leaves_its_message_and_the_next_is_read(
    two_reports: DovecotServer, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    taken: list[bytes] = []

    def fails_on_the_first(raw: bytes) -> None:
        if raw == report(1):
            raise RuntimeError("queue unavailable")
        taken.append(raw)

    result = _poll(two_reports, two_reports.url(scheme), fails_on_the_first)
    assert (result.handled, result.failed) == (1, 1)
    assert taken == [report(2)]
    assert two_reports.messages() == [report(1)]
    assert "queue unavailable" in caplog.text


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s"])
def test_a_crash_between_commit_and_delete_reprocesses(
    two_reports: DovecotServer, scheme: str
) -> None:
    """The handler commits, then the process dies before the delete: on the next poll
    the message is read again (at worst twice, never lost)."""
    committed: list[bytes] = []

    def commits_then_dies(raw: bytes) -> None:
        committed.append(raw)
        if raw == report(2):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _poll(two_reports, two_reports.url(scheme), commits_then_dies)
    assert committed == [report(1), report(2)]
    assert report(2) in two_reports.messages()
    _poll(two_reports, two_reports.url(scheme), committed.append)
    assert committed.count(report(2)) == 2
    assert set(committed) == {report(1), report(2)}
    assert two_reports.messages() == []


@pytest.mark.parametrize("scheme", ["imaps", "pop3s"])
def test_limit_leaves_the_rest_for_the_next_poll(dovecot: DovecotServer, scheme: str) -> None:
    for number in (1, 2, 3):
        dovecot.deliver(report(number))
    taken: list[bytes] = []
    result = _poll(dovecot, dovecot.url(scheme), taken.append, limit=2)
    assert (result.handled, result.remaining) == (2, 1)
    assert dovecot.messages() == [report(3)]


@pytest.mark.parametrize(
    ("scheme", "user", "path"),
    [
        ("imaps", "bounces", ""),
        ("imap", "basic", ""),
        ("imaps", "bounces", "/INBOX?move=Processed"),
        ("imaps", "basic", "/INBOX?move=Processed"),
        ("pop3s", "bounces", ""),
        ("pop3", "basic", ""),
    ],
)
def test_a_message_over_the_size_limit_is_removed_unread_and_the_next_is_read(
    dovecot: DovecotServer, scheme: str, user: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The size is asked before the body: one over max_message_bytes never reaches the
    handler (nor memory), goes (or moves) like a handled one, and is counted and logged
    without an address; one exactly at the limit is still read."""
    dovecot.deliver(large(1, 4000), user)
    dovecot.deliver(large(2, 2000), user)
    dovecot.deliver(large(3, 9000), user)
    taken: list[bytes] = []
    url = dovecot.url(scheme, user, path)
    result = _poll(dovecot, url, taken.append, max_message_bytes=2000)
    assert taken == [large(2, 2000)]
    assert (result.handled, result.too_large, result.failed) == (1, 2, 0)
    assert "1 message(s) taken in and removed, 2 too large removed unread" in str(result)
    assert dovecot.messages(user) == []
    if path:
        assert dovecot.messages(user, "Processed") == [
            large(n, s) for n, s in ((1, 4000), (2, 2000), (3, 9000))
        ]
    assert "4000 bytes, over BOUNCE_MAX_MESSAGE_BYTES (2000): removed unread" in caplog.text
    assert "9000 bytes" in caplog.text
    assert "@" not in caplog.text and "example" not in caplog.text


# Security and failures -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["imaps", "imap", "pop3s", "pop3"])
def test_an_unknown_certificate_is_refused(two_reports: DovecotServer, scheme: str) -> None:
    """TLS verifies against the system store: the test server's own CA is not in it.
    (For imap:// and pop3:// this also shows STARTTLS / STLS is used by default.)"""
    taken: list[bytes] = []
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED"):
        poll(two_reports.url(scheme), taken.append, timeout=10)
    assert taken == []
    assert len(two_reports.messages()) == 2


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_starttls_no_reads_in_plain_text(two_reports: DovecotServer, scheme: str) -> None:
    taken: list[bytes] = []
    poll(two_reports.url(scheme) + "?starttls=no", taken.append, timeout=10)
    assert taken == [report(1), report(2)]


@pytest.mark.parametrize("scheme", ["imap", "pop3"])
def test_a_server_whose_starttls_was_stripped_is_refused_before_the_password(
    two_reports: DovecotServer, scheme: str
) -> None:
    """A man in the middle removes STARTTLS / STLS from what Dovecot offers: by default
    the poll stops before logging in; only ?starttls=no sends the password in clear."""
    secret = DovecotServer.PASSWORDS["basic"].encode()
    upstream = f":{two_reports.ports[scheme]}"
    taken: list[bytes] = []
    with StartTLSStripper(two_reports.ports[scheme]) as stripper:
        url = two_reports.url(scheme, "basic").replace(upstream, f":{stripper.port}")
        with pytest.raises(MailboxError, match=r"offers no (STARTTLS|STLS), so the password"):
            _poll(two_reports, url, taken.append)
        assert taken == [] and secret not in stripper.sent
        assert len(two_reports.messages("basic")) == 2
        _poll(two_reports, url + "?starttls=no", taken.append)
        assert secret in stripper.sent
    assert taken == [report(1), report(2)]


def test_a_wrong_password_is_a_mailbox_error(dovecot: DovecotServer) -> None:
    url = dovecot.url("imaps").replace("%C3%A4", "a")
    with pytest.raises(MailboxError) as error:
        _poll(dovecot, url, lambda raw: None)
    assert "ssword" not in str(error.value)


def test_a_silent_server_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(MailboxError, match="timed out"):
            poll(f"imap://u:p@127.0.0.1:{port}/INBOX", lambda raw: None, timeout=0.5)
