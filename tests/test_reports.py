"""Reading what comes back: DSNs, ARF complaints and plain-text bounces.

The corpus in tests/data/reports/ is shaped after what Postfix, Exim, Sendmail, qmail,
Exchange / Office 365, Gmail, Yahoo, AOL, Amazon SES, Lotus Notes and old MTAs send,
with the pitfalls we must not fall into: delay notices, success reports, auto-replies,
base64-encoded status parts, missing boundaries, truncation, unknown charsets.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from re import _constants as sre_constants
from re import _parser as sre_parse
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentapp.mail import report_phrases, report_text, reports
from consentapp.mail.reports import BounceKind, FailedRecipient, Report, classify, parse_report

CORPUS = Path(__file__).parent / "data" / "reports"
HARD, SOFT, COMPLAINT = BounceKind.HARD, BounceKind.SOFT, BounceKind.COMPLAINT
VERP = "@bounce.example.com"


def ours(number: int) -> str:
    return f"176457684100.12.{number}@news.example.com"


@dataclass(frozen=True)
class Expect:
    format: str
    recipients: list[tuple[str, BounceKind, str | None]]
    original_message_id: str | None = None
    return_paths: tuple[str, ...] = ()
    feedback_type: str | None = None
    original_recipient: str | None = None
    diagnostic_has: dict[str, str] = field(default_factory=dict)


EXPECTED: dict[str, Expect | None] = {
    "postfix-user-unknown.eml": Expect(
        "dsn",
        [("anna.peeters@example.be", HARD, "5.1.1")],
        ours(1001),
        ("b+1001.Kq3xZ9" + VERP,),
        original_recipient="anna.peeters@example.be",
        diagnostic_has={"anna.peeters@example.be": "Recipient address rejected: User unknown in"},
    ),
    "postfix-mailbox-full.eml": Expect(
        "dsn", [("Bart@Example.NL", SOFT, "5.2.2")], ours(1002), ("b+1002.T7mVw2" + VERP,)
    ),
    "postfix-delayed.eml": None,
    "postfix-failed-and-delayed.eml": Expect(
        "dsn", [("dirk@example.de", HARD, "5.1.1")], ours(1004), ("newsletter@news.example.com",)
    ),
    "exim-plain.eml": Expect(
        "plain",
        [("greet@example.nl", HARD, "5.1.1")],
        ours(1005),
        ("b+1005.Hh2Lm0" + VERP,),
        original_recipient="greet@example.nl",
    ),
    "exim-delay-warning.eml": None,
    "sendmail-dsn.eml": Expect(
        "dsn",
        [("ines@example.org", HARD, "5.1.1")],
        ours(1007),
        ("b+1007.Rr5Tt6" + VERP,),
        original_recipient="ines@example.org",
        diagnostic_has={"ines@example.org": "550 5.1.1 <ines@example.org>... User unknown"},
    ),
    "qmail-failure-notice.eml": Expect(
        "plain",
        [("jan@oldhost.example", HARD, "5.1.1"), ("kees@elsewhere.example", SOFT, "5.2.2")],
        ours(1008),
        ("b+1008.Yy7Uu8" + VERP,),
        diagnostic_has={"jan@oldhost.example": "Sorry, no mailbox here by that name. (#5.1.1)"},
    ),
    "office365-ndr.eml": Expect(
        "dsn",
        [("luc.janssens@contoso.be", HARD, "5.1.10")],
        ours(1009),
        ("b+1009.Ii9Oo0" + VERP,),
        original_recipient="luc.janssens@contoso.be",
        diagnostic_has={
            "luc.janssens@contoso.be": "RESOLVER.ADR.RecipientNotFound; Recipient not found"
        },
    ),
    "exchange-dutch-onbestelbaar.eml": Expect(
        "plain",
        [("marieke@voorbeeld.nl", HARD, "5.1.1")],
        None,
        ("b+1010.Nn1Mm2" + VERP,),
        diagnostic_has={"marieke@voorbeeld.nl": "Gebruiker onbekend"},
    ),
    "gmail-does-not-exist.eml": Expect(
        "dsn",
        [("pieter.devos@gmail.com", HARD, "5.1.1")],
        ours(1011),
        ("b+1011.Gg3Ff4" + VERP,),
        original_recipient="pieter.devos@gmail.com",
    ),
    "gmail-over-quota.eml": Expect(
        "dsn", [("sofie@gmail.com", SOFT, "5.2.2")], ours(1012), ("b+1012.Qq4Ww5" + VERP,)
    ),
    "yahoo-plain.eml": Expect(
        "plain",
        [("tom.dewit@yahoo.com", HARD, None)],
        ours(1013),
        ("b+1013.Ee5Rr6" + VERP,),
        original_recipient="tom.dewit@yahoo.com",
        diagnostic_has={"tom.dewit@yahoo.com": "554: delivery error: dd This user doesn't have"},
    ),
    "yahoo-arf-abuse.eml": Expect(
        "arf",
        [("lotte.maes@yahoo.com", COMPLAINT, None)],
        ours(1014),
        ("fbl" + VERP, "b+1014.Cc6Vv7" + VERP),
        feedback_type="abuse",
        original_recipient="lotte.maes@yahoo.com",
    ),
    "aol-arf-no-type.eml": Expect(
        "arf",
        [("maarten.claes@aol.com", COMPLAINT, None)],
        ours(1015),
        ("fbl" + VERP, "b+1015.Bb7Nn8" + VERP),
        feedback_type=None,
        original_recipient="maarten.claes@aol.com",
    ),
    "arf-not-spam.eml": None,
    "arf-auth-failure.eml": None,
    "arf-fraud-headers-only.eml": Expect(
        "arf",
        [("paul@isp.example.org", COMPLAINT, None), ("paula@isp.example.org", COMPLAINT, None)],
        ours(1018),
        ("fbl" + VERP, "b+1018.Aa8Ss9" + VERP),
        feedback_type="fraud",
        original_recipient="paul@isp.example.org",
    ),
    "ses-bounce.eml": Expect(
        "dsn", [("quinten@example.com", HARD, "5.1.1")], ours(1019), ("b+1019.Zz9Xx0" + VERP,)
    ),
    "ses-complaint.eml": Expect(
        "arf",
        [("rosa@example.net", COMPLAINT, None)],
        ours(1020),
        ("fbl" + VERP,),
        feedback_type="abuse",
        original_recipient="rosa@example.net",
    ),
    "sendmail-old-plain.eml": Expect(
        "plain",
        [("stefan@oldbox.example.edu", HARD, None)],
        ours(1021),
        ("newsletter@news.example.com",),
        original_recipient="stefan@oldbox.example.edu",
    ),
    "autoreply-vacation.eml": None,
    "exchange-automatic-reply.eml": None,
    "autoreply-afwezig.eml": None,
    "autoreply-x-autoreply.eml": None,
    "ordinary-reply.eml": None,
    "dsn-delivered-relayed.eml": None,
    "dsn-base64-status.eml": Expect(
        "dsn", [("cecilia@example.pl", HARD, "5.1.1")], None, ("b+1028.Jj2Hh3" + VERP,)
    ),
    "dsn-x-unix-final-recipient.eml": Expect(
        "dsn", [("Dora.Info@host.example.com", HARD, "5.0.0")], None, ("b+1029.Ff3Dd4" + VERP,)
    ),
    "notes-no-status.eml": Expect(
        "dsn", [("edwin@notes.example.com", HARD, None)], ours(1030), ("b+1030.Ss4Aa5" + VERP,)
    ),
    "exchange-french-non-remis.eml": Expect(
        "dsn",
        [("fabienne@exemple.fr", HARD, "5.1.1")],
        ours(1031),
        ("b+1031.Pp5Oo6" + VERP,),
        original_recipient="fabienne@exemple.fr",
    ),
    "truncated-dsn.eml": Expect(
        "dsn", [("gert@example.be", HARD, "5.1.1")], None, ("b+1032.Mm6Nn7" + VERP,)
    ),
    "postfix-smtputf8-global.eml": Expect(
        "dsn",
        [("jürgen@example.de", HARD, "5.1.1")],
        ours(1034),
        ("b+1034.Uu8Yy9" + VERP,),
        original_recipient="jürgen@example.de",
        diagnostic_has={"jürgen@example.de": "550 5.1.1 Empfänger unbekannt"},
    ),
    "missing-boundary.eml": Expect(
        "plain", [("hilde@example.be", HARD, "5.1.1")], None, ("b+1033.Kk7Ll8" + VERP,)
    ),
}


def corpus_bytes(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def mail(headers: dict[str, str], body: str) -> bytes:
    head = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return f"{head}\n{body}".encode()


BOUNCE_HEADERS = {
    "From": "MAILER-DAEMON@mx.example.org (Mail Delivery System)",
    "To": "b+77.Sig0@bounce.example.com",
    "Subject": "Mail delivery failed",
}
BOUNCE_BODY = "Delivery to the following recipient failed permanently:\n\n  ann@example.org\n"


# --- the corpus -------------------------------------------------------------------


def test_the_corpus_and_the_expectations_list_the_same_samples() -> None:
    on_disk = {path.name for path in CORPUS.glob("*.eml")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 25


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_reads_as_expected(name: str) -> None:
    expected = EXPECTED[name]
    report = parse_report(corpus_bytes(name))
    if expected is None:
        assert report is None
        return
    assert report is not None
    assert report.format == expected.format
    assert [(r.address, r.kind, r.status) for r in report.recipients] == expected.recipients
    assert report.original_message_id == expected.original_message_id
    assert report.return_paths == expected.return_paths
    assert report.feedback_type == expected.feedback_type
    if expected.original_recipient is not None:
        assert report.original_recipient == expected.original_recipient
    for address, words in expected.diagnostic_has.items():
        found = next(r for r in report.recipients if r.address == address)
        assert found.diagnostic is not None and words in found.diagnostic


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e is not None))
def test_recipients_are_bare_addresses_and_diagnostics_one_line(name: str) -> None:
    report = parse_report(corpus_bytes(name))
    assert report is not None
    for recipient in report.recipients:
        assert re.fullmatch(r"[^\s<>\"]+@[^\s<>\"]+", recipient.address)
        if recipient.diagnostic is not None:
            assert "\n" not in recipient.diagnostic and "  " not in recipient.diagnostic
            assert len(recipient.diagnostic) <= 1000
            assert not recipient.diagnostic.lower().startswith(("smtp;", "x-postfix;"))
    assert report.report_id and not report.report_id.startswith("<")
    assert all("<" not in path and "@" in path for path in report.return_paths)


def test_the_diagnostic_loses_its_type_prefix_and_keeps_the_original_recipient() -> None:
    report = parse_report(corpus_bytes("office365-ndr.eml"))
    assert report is not None
    (recipient,) = report.recipients
    assert recipient.diagnostic is not None
    assert recipient.diagnostic.startswith("550 5.1.10 RESOLVER")
    assert recipient.original == "luc.janssens@contoso.be"


def test_the_report_id_is_its_message_id_or_a_digest_of_its_bytes() -> None:
    with_id = parse_report(corpus_bytes("sendmail-dsn.eml"))
    assert with_id is not None
    assert with_id.report_id == "202612010910.5B19Aab1004321@mail.example.org"
    raw = corpus_bytes("qmail-failure-notice.eml")
    first, again = parse_report(raw), parse_report(raw)
    assert first is not None and again is not None
    assert first.report_id == again.report_id
    assert first.report_id.startswith("sha256:") and len(first.report_id) == 7 + 64
    other = parse_report(raw + b"\n")
    assert other is not None and other.report_id != first.report_id


def test_a_dsn_without_its_per_message_block_loses_no_recipient() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Returned mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\n\n"
        b"--z\nContent-Type: message/delivery-status\n\n"
        b"Final-Recipient: rfc822; one@example.org\nAction: failed\nStatus: 5.1.1\n\n"
        b"Final-Recipient: rfc822; two@example.org\nAction: failed\nStatus: 4.2.2\n\n--z--\n"
    )
    report = parse_report(raw)
    assert report is not None
    assert [(r.address, r.kind) for r in report.recipients] == [
        ("one@example.org", HARD),
        ("two@example.org", SOFT),
    ]


def test_a_dsn_reports_only_its_failed_recipients() -> None:
    report = parse_report(corpus_bytes("postfix-failed-and-delayed.eml"))
    assert report is not None
    assert [r.address for r in report.recipients] == ["dirk@example.de"]


# --- classification ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind"),
    [
        ("5.1.1", "550 5.1.1 User unknown", HARD),
        # A refusal of our mail (policy, reputation, authentication, content) is not
        # evidence that the address does not work.
        ("5.7.1", "550 5.7.1 Message rejected", SOFT),
        ("5.7.1", "554 5.7.1 Service unavailable; client host blocked using Spamhaus", SOFT),
        ("5.7.26", "550 5.7.26 Unauthenticated mail is refused by the domain's DMARC policy", SOFT),
        ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", SOFT),
        ("5.7.1", "550 5.7.1 Recipient address rejected: User unknown", HARD),
        ("5.4.4", "550 5.4.4 Host or domain name not found", HARD),
        ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", HARD),
        (None, "554 Message rejected as spam", SOFT),
        ("4.4.1", "Connection timed out", SOFT),
        ("4.2.0", None, SOFT),
        ("5.2.2", "552 5.2.2 Over quota", SOFT),
        ("5.2.2", None, SOFT),
        ("4.2.2", None, SOFT),
        ("5.1.1", "550 5.1.1 mailbox full", SOFT),
        ("5.0.0", "550 5.1.1 <a@b>: user unknown", HARD),
        (None, "smtp; 550 5.1.1 user unknown", HARD),
        (None, "452 4.2.2 Mailbox full", SOFT),
        (None, "550 Requested action not taken: mailbox unavailable", HARD),
        (None, "550-Sorry, no such user here", HARD),
        (None, "452 too many recipients", SOFT),
        (None, "421 Service not available", SOFT),
        (None, "Sorry, no mailbox here by that name.", HARD),
        (None, "User unknown", HARD),
        (None, "The account has been disabled", HARD),
        (None, "Host or domain name not found: unrouteable address", HARD),
        (None, "Recipient not found", HARD),
        (None, "Gebruiker onbekend", HARD),
        (None, "Het adres bestaat niet", HARD),
        (None, "Destinataire inconnu", HARD),
        (None, "Adresse n'existe pas", HARD),
        (None, "Empfänger unbekannt", HARD),
        (None, "Benutzer unbekannt", HARD),
        (None, "Postfach voll", SOFT),
        (None, "boîte pleine", SOFT),
        (None, "Mailbox vol", SOFT),
        (None, "Quota exceeded", SOFT),
        (None, "Please try again later", SOFT),
        (None, "The domain does not exist temporarily", SOFT),
        (None, "Something odd happened", SOFT),
        (None, None, SOFT),
        ("2.0.0", "250 Ok", SOFT),
        (None, "host 192.168.550.1 said: rejected", SOFT),
    ],
)
def test_classify(status: str | None, diagnostic: str | None, kind: BounceKind) -> None:
    assert classify(status, diagnostic) is kind


# --- what is not a report --------------------------------------------------------------


PERSON = {"From": "Ann <ann@example.org>", "To": "b+77.Sig0@bounce.example.com"}
ROLE = {"From": "Postmaster <postmaster@example.org>", "To": "b+77.Sig0@bounce.example.com"}
UNDELIVERABLE = {"Subject": "Undeliverable: December news"}
# Each auto-reply marker on a mail that, without it, would read as a bounce.
AUTO_REPLIES = [
    ({**PERSON, **UNDELIVERABLE}, {"Auto-Submitted": "auto-replied"}),
    ({**PERSON, **UNDELIVERABLE}, {"Auto-Submitted": "Auto-Replied (vacation)"}),
    ({**PERSON, **UNDELIVERABLE}, {"Auto-Submitted": "auto-notified"}),
    ({**ROLE, **UNDELIVERABLE}, {"X-Autoreply": "yes"}),
    ({**ROLE, **UNDELIVERABLE}, {"X-Autorespond": "Out of office"}),
    ({**ROLE, **UNDELIVERABLE}, {"Precedence": "auto_reply"}),
    ({**ROLE, "Subject": "Re: news"}, {"Subject": "Out of office: December news"}),
    ({**ROLE, "Subject": "Re: news"}, {"Subject": "Automatic reply: December news"}),
    ({**ROLE, "Subject": "Re: news"}, {"Subject": "Afwezig: December news"}),
    ({**ROLE, "Subject": "Re: news"}, {"Subject": "Absence: December news"}),
    ({**ROLE, "Subject": "Re: news"}, {"Subject": "Réponse automatique : December news"}),
    ({**ROLE, "Subject": "Re: news"}, {"Subject": "Abwesenheitsnotiz"}),
]
AWAY = "I am away. Your message could not be delivered to me: 550 5.1.1 bob@example.org\n"


@pytest.mark.parametrize(("base", "marker"), AUTO_REPLIES)
def test_auto_replies_are_not_bounces(base: dict[str, str], marker: dict[str, str]) -> None:
    without = parse_report(mail(base, AWAY))
    assert without is not None and without.recipients[0].address == "bob@example.org"
    assert parse_report(mail({**base, **marker}, AWAY)) is None


def test_mail_systems_mark_their_bounces_auto_replied_too() -> None:
    """Postfix, Exim and Gmail do; their bounces must still count."""
    body = "Your message could not be delivered: 550 5.1.1 bob@example.org\n"
    report = parse_report(mail({**BOUNCE_HEADERS, "Auto-Submitted": "auto-replied"}, body))
    assert report is not None and report.recipients[0].address == "bob@example.org"
    for name in ("postfix-user-unknown.eml", "exim-plain.eml", "gmail-does-not-exist.eml"):
        assert b"Auto-Submitted: auto-replied" in corpus_bytes(name)
        assert parse_report(corpus_bytes(name)) is not None


def test_a_dsn_is_a_report_whatever_its_auto_submitted_header_or_subject() -> None:
    raw = corpus_bytes("sendmail-dsn.eml").replace(
        b"Subject: Returned mail: see transcript for details",
        b"Subject: Automatic reply: out of office\nX-Autoreply: yes",
    )
    report = parse_report(raw)
    assert report is not None and report.recipients[0].address == "ines@example.org"


def test_a_plain_bounce_without_an_address_invents_no_recipient() -> None:
    body = "This is a permanent error.\n550 5.1.1 User unknown\n"
    assert parse_report(mail(BOUNCE_HEADERS, body)) is None
    only_ours = "Your message from b+77.Sig0@bounce.example.com failed: 550 user unknown\n"
    assert parse_report(mail(BOUNCE_HEADERS, only_ours)) is None


def test_a_plain_bounce_names_the_recipient_and_finds_the_quoted_message_id() -> None:
    body = (
        BOUNCE_BODY
        + "    550 5.1.1 user unknown\n\n------ This is a copy of the message ------\n\n"
        + "Return-Path: <b+77.Sig0@bounce.example.com>\nMessage-ID: <m1@news.example.com>\n"
    )
    report = parse_report(mail(BOUNCE_HEADERS, body))
    assert report is not None
    assert report.format == "plain"
    assert [(r.address, r.kind, r.status) for r in report.recipients] == [
        ("ann@example.org", HARD, "5.1.1")
    ]
    assert report.original_message_id == "m1@news.example.com"
    assert report.return_paths == ("b+77.Sig0@bounce.example.com",)


def test_a_bounce_subject_in_an_encoded_word_is_recognised() -> None:
    headers = {
        "From": "Systeembeheer <beheer@voorbeeld.nl>",
        "To": "b+77.Sig0@bounce.example.com",
        "Subject": "=?utf-8?b?T25iZXN0ZWxiYWFyOiBEZWNlbWJlciBuaWV1d3M=?=",
    }
    body = "Uw bericht kon niet worden bezorgd bij:\n\n  kim@voorbeeld.nl\n    Gebruiker onbekend\n"
    report = parse_report(mail(headers, body))
    assert report is not None
    assert [(r.address, r.kind) for r in report.recipients] == [("kim@voorbeeld.nl", HARD)]


def test_an_html_only_bounce_is_read_without_its_tags() -> None:
    headers = {**BOUNCE_HEADERS, "Content-Type": "text/html; charset=utf-8"}
    body = (
        "<html><body><p>Delivery has failed to these recipients or groups:</p>"
        '<p><a href="mailto:lien@example.com">lien@example.com</a><br>'
        "The email address couldn&#39;t be found.</p><p>550 5.1.1 User unknown</p></body></html>"
    )
    report = parse_report(mail(headers, body))
    assert report is not None
    (recipient,) = report.recipients
    assert recipient.address == "lien@example.com"
    assert recipient.diagnostic is not None and "couldn't be found" in recipient.diagnostic
    assert "<" not in recipient.diagnostic


def test_quoted_sender_headers_are_not_taken_for_the_failed_recipient() -> None:
    body = (
        "Your message could not be delivered.\n\n  kai@example.org\n    550 5.1.1 unknown\n\n"
        "Return-Path: <bounce-other@news.example.com>\n"
        "From: Example News <newsletter@news.example.com>\nTo: kai@example.org\n"
        "Message-ID: <m2@news.example.com>\n"
    )
    report = parse_report(mail(BOUNCE_HEADERS, body))
    assert report is not None
    assert [r.address for r in report.recipients] == ["kai@example.org"]
    assert report.original_message_id == "m2@news.example.com"
    assert report.return_paths[-1] == "bounce-other@news.example.com"
    headers_first = "From: Example News <newsletter@news.example.com>\n" + body
    report = parse_report(mail(BOUNCE_HEADERS, headers_first))
    assert report is not None
    assert [r.address for r in report.recipients] == ["kai@example.org"]


def test_our_own_sender_named_in_the_notice_is_not_a_failed_recipient() -> None:
    body = (
        "Your message from newsletter@news.example.com could not be delivered to\n"
        "kai@example.org: 550 5.1.1 unknown\n\n"
        ">>> MAIL From:<bounces@news.example.com>\n<<< 250 ok\n\n"
        "------ This is a copy of the message ------\n\n"
        "From: Example News <newsletter@news.example.com>\nTo: kai@example.org\n"
    )
    report = parse_report(mail(BOUNCE_HEADERS, body))
    assert report is not None
    assert [r.address for r in report.recipients] == ["kai@example.org"]


def test_a_complaint_with_a_redacted_recipient_keeps_the_verp_address() -> None:
    raw = corpus_bytes("yahoo-arf-abuse.eml")
    raw = raw.replace(b"Original-Rcpt-To: <lotte.maes@yahoo.com>\n", b"")
    raw = raw.replace(b"To: lotte.maes@yahoo.com", b"To: redacted")
    report = parse_report(raw)
    assert report is not None
    assert report.recipients == ()
    assert report.feedback_type == "abuse"
    assert report.return_paths == ("fbl@bounce.example.com", "b+1014.Cc6Vv7@bounce.example.com")
    # Some reporters strip the Return-Path too; Original-Mail-From still names the sender.
    raw = raw.replace(
        b"Return-Path: <b+1014.Cc6Vv7@bounce.example.com>\nFrom: Example", b"From: Example"
    )
    report = parse_report(raw)
    assert report is not None
    assert report.return_paths == ("fbl@bounce.example.com", "b+1014.Cc6Vv7@bounce.example.com")


def test_a_plain_delay_warning_is_not_a_bounce() -> None:
    body = "Your message could not be delivered to ann@example.org for 4 hours: 451 4.4.1\n"
    assert parse_report(mail(BOUNCE_HEADERS, body)) is not None
    warning = {**BOUNCE_HEADERS, "Subject": "Warning: message 1tHq delayed 4 hours"}
    assert parse_report(mail(warning, body)) is None


def test_exims_failed_recipients_header_names_the_address_when_the_text_does_not() -> None:
    headers = {**BOUNCE_HEADERS, "X-Failed-Recipients": "zed@example.org"}
    report = parse_report(mail(headers, "A message that you sent failed.\n    550 5.1.1 unknown\n"))
    assert report is not None
    assert [(r.address, r.kind, r.status) for r in report.recipients] == [
        ("zed@example.org", HARD, "5.1.1")
    ]


def test_only_the_first_64_kb_of_a_text_is_scanned() -> None:
    late = "x" * report_text.SCAN_LIMIT + "\n\n  ann@example.org\n    550 5.1.1 user unknown\n"
    assert report_text.scan_plain(late, set(), []) is None
    assert report_text.scan_plain(late[report_text.SCAN_LIMIT :], set(), []) is not None


def test_ordinary_mail_is_not_a_report() -> None:
    headers = {"From": "Ann <ann@example.org>", "To": "news@example.com", "Subject": "Hello"}
    assert parse_report(mail(headers, "User unknown? 550 5.1.1 bob@example.org\n")) is None


# --- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe" * 1000,
        bytes(range(256)) * 40,
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n",
        b'Content-Type: multipart/report; boundary="\n\n--\n--\n',
        b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\nAction: failed\n",
        b"Content-Type: multipart/report; report-type=feedback-report; boundary=y\n\n--y\n"
        b"Content-Type: message/feedback-report\n\nFeedback-Type: abuse\n--y--\n",
        b"From: MAILER-DAEMON\nSubject: =?x-bogus?q?fail?=\nContent-Type: text/plain; "
        b"charset=x-bogus\n\n<a@b.example>:\n550 \xff\xfe user unknown\n",
        b"From: =?utf-8?b?!!!?=\nSubject: \xe9\xe8\n\n",
        b"Junk" * 262_144,
    ],
)
def test_malformed_input_never_raises(raw: bytes) -> None:
    result = parse_report(raw)
    assert result is None or isinstance(result, Report)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_truncation_of_a_sample_is_survived(name: str) -> None:
    raw = corpus_bytes(name)
    for cut in range(0, len(raw), max(1, len(raw) // 60)):
        result = parse_report(raw[:cut])
        assert result is None or isinstance(result, Report)


def test_wrong_charsets_are_replaced_not_fatal() -> None:
    raw = corpus_bytes("postfix-user-unknown.eml").replace(
        b"Content-Type: message/delivery-status",
        b"Content-Type: message/delivery-status; charset=no-such-charset",
    )
    raw = raw.replace(b"User unknown in", b"User unknown \xff\xfe in")
    report = parse_report(raw)
    assert report is not None and report.recipients[0].kind is HARD


@pytest.mark.parametrize("charset", ['"a\x00b"', "no-such-charset", "unknown-8bit", '""'])
def test_a_hostile_charset_does_not_hide_a_bounce(charset: str) -> None:
    raw = (
        f"From: MAILER-DAEMON@mx.example.org\nSubject: Mail delivery failed\n"
        f"Content-Type: text/plain; charset={charset}\n\n"
    ).encode() + b"Delivery failed:\n\n  ann@example.org\n    550 5.1.1 Benutzer unbekannt \xfc\n"
    report = parse_report(raw)
    assert report is not None
    assert [(r.address, r.kind) for r in report.recipients] == [("ann@example.org", HARD)]


def test_an_unreadable_report_is_logged_and_dropped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_: object) -> None:
        raise ValueError("broken")

    monkeypatch.setattr(reports, "_dispatch", explode)
    with caplog.at_level(logging.WARNING, logger="consentapp.mail.reports"):
        assert parse_report(corpus_bytes("postfix-user-unknown.eml")) is None
    assert "Unreadable bounce report dropped" in caplog.text


def test_a_delivery_report_without_recipients_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.org\nSubject: Returned mail\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=z\n\n"
        b"--z\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n--z--\n"
    )
    with caplog.at_level(logging.WARNING, logger="consentapp.mail.reports"):
        assert parse_report(raw) is None
    assert "without a readable recipient" in caplog.text


ADVERSARIAL = [
    "a" * 1_000_000,
    "a@" * 500_000,
    "a@b." * 250_000,
    "5.5." * 250_000,
    "<" * 1_000_000,
    "-" * 1_000_000,
    "<a@b>:\n" * 125_000,
    " \t" * 500_000,
    "550-" * 250_000,
    "Message-ID: <" * 80_000,
    "--- original message " * 50_000,
    "<" + "a" * 999_999,
    "<a" * 500_000,
    "Return-Path: <a@b.c>\n" * 45_000,
]


PATTERNS = {
    f"{module.__name__}.{name}": value
    for module in (report_phrases, report_text)
    for name, value in vars(module).items()
    if isinstance(value, re.Pattern)
    and (module is report_phrases or not hasattr(report_phrases, name))
}


_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}


def _parts(op: Any, av: Any) -> list[Any]:
    """The sub-patterns of a parsed node other than a repeat."""
    if op is sre_constants.SUBPATTERN:
        return [av[-1]]
    if op is sre_constants.BRANCH:
        return list(av[1])
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [av[1]]
    if op is sre_constants.ATOMIC_GROUP:
        return [av]
    if op is sre_constants.GROUPREF_EXISTS:
        return [part for part in av[1:] if part]
    return []


def nested_unbounded_repeat(items: Any, depth: int = 0) -> bool:
    """True when an unbounded repeat sits inside another one (`(a+)+`, `(x|y*)*`): the
    shape that backtracks exponentially on a text that almost matches."""
    for op, av in items:
        if op in _REPEATS:
            _, high, sub = av
            unbounded = high == sre_constants.MAXREPEAT
            if (unbounded and depth) or nested_unbounded_repeat(sub, depth + unbounded):
                return True
        elif any(nested_unbounded_repeat(part, depth) for part in _parts(op, av)):
            return True
    return False


def test_the_backtracking_check_sees_nested_repeats() -> None:
    for shape in ("(a+)+", "(?:x|y*)*", "(?=(a*)*)", "((b|c+)d)*"):
        assert nested_unbounded_repeat(sre_parse.parse(shape)), shape
    for shape in ("a+b+", r"(\d{1,3}\.){3}", "<[^>]*>", "(?:ab)+"):
        assert not nested_unbounded_repeat(sre_parse.parse(shape)), shape


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_no_pattern_can_backtrack_exponentially(pattern: str) -> None:
    """No pattern nests an unbounded repeat in another: a hostile report cannot make one
    run for minutes. Checked on the parsed pattern, so nothing here depends on timing."""
    compiled = PATTERNS[pattern]
    assert not nested_unbounded_repeat(sre_parse.parse(compiled.pattern, compiled.flags))


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_a_megabyte_bounce_body_is_still_read(text: str) -> None:
    """The hostile megabyte after the failure statement: the report is read, and its
    recipient found, rather than dropped by the parser."""
    report = parse_report(mail(BOUNCE_HEADERS, BOUNCE_BODY + text))
    assert report is not None
    assert classify(text, text) in set(BounceKind)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Dropped(logging.Handler):
    """Counts reports the safety net in parse_report had to drop: each one is a bug."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.dropped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.dropped.append(self.format(record))


def _check(raw: bytes) -> None:
    """parse_report never raises; beyond that, nothing it reads may have raised inside."""
    handler = _Dropped()
    logger = logging.getLogger("consentapp.mail.reports")
    logger.addHandler(handler)
    try:
        result = parse_report(raw)
    finally:
        logger.removeHandler(handler)
    assert not handler.dropped, handler.dropped[0]
    assert result is None or isinstance(result, Report)
    if result is not None:
        assert result.recipients or result.format == "arf"
        assert all(isinstance(r, FailedRecipient) and "@" in r.address for r in result.recipients)


@FUZZ
@given(st.binary(max_size=4000))
def test_fuzz_random_bytes(raw: bytes) -> None:
    _check(raw)


@FUZZ
@given(
    st.sampled_from(sorted(EXPECTED)),
    st.lists(st.tuples(st.integers(0, 5000), st.binary(min_size=0, max_size=8)), max_size=6),
)
def test_fuzz_mutated_samples(name: str, edits: list[tuple[int, bytes]]) -> None:
    raw = bytearray(corpus_bytes(name))
    for position, replacement in edits:
        at = position % (len(raw) + 1)
        raw[at : at + len(replacement)] = replacement
    _check(bytes(raw))
