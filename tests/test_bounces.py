"""What a bounce or complaint does: VERP envelope senders, matching a report to the
mail it is about, thresholds, the undeliverable mark and how it is lifted, refusals
seen while sending, idempotency and forged reports (issue: deliverability).

Reports are built as the parser hands them over; reading real report mail is
tests/test_reports.py, the ways in (bounce server, mailbox, webhooks) have their own
modules.
"""

from __future__ import annotations

import re
import smtplib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.keyring import verp_signature
from consentapp.mail.alignment import alignment_warnings
from consentapp.mail.outbox import queue_email
from consentapp.mail.reports import BounceKind, FailedRecipient, Report
from consentapp.mail.sink import MailSink, start_sink
from consentapp.mail.verp import envelope_sender, read_address
from consentapp.models import (
    Bounce,
    BounceType,
    ConsentEvent,
    Contact,
    IncomingReport,
    OutboundEmail,
    OutboundStatus,
    Topic,
    utcnow,
)
from consentapp.services import bounces, undeliverable
from consentapp.services.erasure import erase_person
from consentapp.services.rights_export import build_export
from consentapp.services.subscription_mails import queue_welcome
from tests.builders import ADDRESS, BOUNCE_DOMAIN, EMAIL, VALID
from tests.flows import confirm, confirmation_link, last_newsletter, send_campaign, subscribe
from tests.helpers import audited, bounce_state, deliver, ledger, post_form
from tests.services import SMTPServer, free_port

DOMAIN = BOUNCE_DOMAIN
NL = "nl@example.be"
EN = "en@example.be"


def envelopes_to(smtp_server: SMTPServer, address: str) -> list[str]:
    return [e.mail_from for e in smtp_server.handler.envelopes if address in e.rcpt_tos]


def verp_of_newsletter(app: Flask, address: str) -> str:
    """Send the usual campaign; the VERP address of the mail `address` got."""
    send_campaign(app)
    row_id, message_id = last_newsletter(app, address)
    with app.app_context():
        return envelope_sender(row_id, message_id, DOMAIN)


def report(
    address: str,
    kind: BounceKind = BounceKind.HARD,
    *,
    report_id: str = "dsn-1@mx.example.be",
    verp: str | None = None,
    message_id: str | None = None,
    status: str | None = "5.1.1",
) -> Report:
    return Report(
        format="dsn",
        recipients=(FailedRecipient(address, kind, status, "550 5.1.1 user unknown"),),
        report_id=report_id,
        original_message_id=message_id,
        return_paths=(verp,) if verp else (),
    )


def apply(app: Flask, found: Report, source: str = "smtp") -> bounces.Outcome:
    with app.app_context():
        outcome = bounces.Outcome()
        bounces.apply_report(found, source, (), outcome)
        db.session.commit()
        return outcome


def test_each_mail_has_its_own_signed_envelope_sender(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    send_campaign(verp_app)
    row_id, message_id = last_newsletter(verp_app, NL)
    (mail_from,) = envelopes_to(smtp_server, NL)
    with verp_app.app_context():
        assert mail_from == f"b+{row_id}.{verp_signature(row_id, message_id)}@{DOMAIN}"
        assert read_address(mail_from, DOMAIN) is not None
    (message,) = smtp_server.to(NL)
    campaign_id = message["Feedback-ID"].split(":")[0]
    assert message["Feedback-ID"] == f"{campaign_id}:service-news:newsletter:crm.example"
    assert message["List-Id"]


def test_without_a_bounce_domain_the_envelope_sender_is_the_sender(
    app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    send_campaign(app)
    assert envelopes_to(smtp_server, NL) == ["privacy@crm.example"]


def test_transactional_mail_gets_a_verp_sender_and_a_feedback_id(
    verp_app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    subscribe(client, "new@example.be")
    deliver(verp_app)
    (mail_from,) = envelopes_to(smtp_server, "new@example.be")
    assert re.fullmatch(rf"b\+\d+\.[0-9a-f]{{12}}@{re.escape(DOMAIN)}", mail_from)
    (message,) = smtp_server.to("new@example.be")
    assert message["Feedback-ID"] == "-:-:subscribe_confirm:crm.example"


def test_a_hard_bounce_to_the_verp_address_stops_all_further_campaigns(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    verp = verp_of_newsletter(verp_app, NL)
    outcome = apply(verp_app, report("someone-else@forwarded.example", verp=verp))
    assert outcome.recorded == 1
    assert bounce_state(verp_app, NL) == ("hard", ["hard"])
    with verp_app.app_context():
        bounce = db.session.scalars(sa.select(Bounce)).one()
        assert (
            bounce.outbox_id == last_newsletter(verp_app, NL)[0] and bounce.campaign_id is not None
        )
    entry = audited(verp_app, "contact.undeliverable")[-1]
    assert entry.details == {"reason": "hard", "bounces": 1, "source": "smtp"}

    smtp_server.handler.clear()
    send_campaign(verp_app)
    assert smtp_server.to(NL) == []
    assert len(smtp_server.to(EN)) == 1


def test_a_forged_verp_address_changes_nothing(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    send_campaign(verp_app)
    row_id, message_id = last_newsletter(verp_app, NL)
    forged = f"b+{row_id}.{'0' * 12}@{DOMAIN}"
    # Even with the right Message-ID: the VERP address it came to was not ours.
    outcome = apply(verp_app, report(NL, verp=forged, message_id=message_id))
    assert outcome.recorded == 0 and outcome.dropped == ["forged VERP address"]
    assert bounce_state(verp_app, NL) == (None, [])


def test_a_verp_address_whose_row_id_was_used_again_names_no_one(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    """SQLite may give a deleted row's id to the next one: the signature covers the
    Message-ID too, so a late report to the old address does not reach the new mail."""
    verp = verp_of_newsletter(verp_app, NL)
    row_id, _ = last_newsletter(verp_app, NL)
    with verp_app.app_context():
        db.session.execute(
            sa.update(OutboundEmail)
            .where(OutboundEmail.id == row_id)
            .values(message_id="<another-mail@crm.example>", to_address=EN)
        )
        db.session.commit()
    outcome = apply(verp_app, report(EN, verp=verp))
    assert outcome.recorded == 0 and outcome.dropped == ["forged VERP address"]
    assert bounce_state(verp_app, EN) == (None, [])


def test_a_report_listing_several_recipients_under_one_verp_address_counts_once(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    app = verp_app
    app.config["BOUNCE_SOFT_LIMIT"] = 2
    verp = verp_of_newsletter(app, NL)
    several = Report(
        format="dsn",
        recipients=tuple(
            FailedRecipient(address, BounceKind.SOFT, "4.2.0", "try later")
            for address in ("alias-1@example.be", NL, "alias-2@example.be")
        ),
        report_id="several@mx",
        original_message_id=None,
        return_paths=(verp,),
    )
    assert apply(app, several).recorded == 1
    assert bounce_state(app, NL) == (None, ["soft"])


def test_a_bounce_of_mail_to_another_address_leaves_the_contact_alone(
    verp_app: Flask, confirmed: None, smtp_server: SMTPServer
) -> None:
    """A new address being verified, or the staff's copy of an inquiry, is mail about the
    contact to another address: its bounce says nothing of the contact's mailbox."""
    with verp_app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == ADDRESS))
        assert contact is not None
        row = queue_email(
            to="typo@exampel.be",
            template="email_change_verify",
            language="nl",
            subject="Bevestig",
            context={"verify_url": "http://localhost/verify"},
            contact_id=contact.id,
        )
        db.session.commit()
        verp = envelope_sender(row.id, row.message_id, DOMAIN)
    outcome = apply(verp_app, report("typo@exampel.be", verp=verp))
    assert outcome.dropped == ["mail was not to the contact's address"]
    # Refused while sending: the same.
    smtp_server.handler.reject.add("typo@exampel.be")
    assert deliver(verp_app).failed == 1
    assert bounce_state(verp_app, ADDRESS) == (None, [])


def test_staff_get_the_inquiry_of_an_undeliverable_visitor(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    post_form(client, "/contact", VALID)
    deliver(app)
    apply(app, report(EMAIL, report_id="x"), source="generic")
    assert bounce_state(app, EMAIL)[0] == "hard"
    smtp_server.handler.clear()
    post_form(app.test_client(), "/contact", VALID | {"message": "A second question."})
    deliver(app)
    assert len(smtp_server.to("office@crm.example")) == 1


def test_without_verp_the_message_id_and_the_recipient_must_both_match(
    app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    send_campaign(app)
    _, message_id = last_newsletter(app, NL)
    wrong = apply(app, report(EN, message_id=message_id.strip("<>")))
    assert wrong.recorded == 0 and wrong.dropped == ["recipient does not match the mail"]
    assert bounce_state(app, EN) == (None, [])
    right = apply(app, report(NL.upper(), message_id=message_id.strip("<>")))
    assert right.recorded == 1
    assert bounce_state(app, NL) == ("hard", ["hard"])


def test_a_mail_report_naming_no_mail_of_ours_is_dropped(app: Flask, audience: None) -> None:
    outcome = apply(app, report(NL))
    assert outcome.dropped == ["mail not known"]
    assert bounce_state(app, NL) == (None, [])


def test_a_signed_provider_event_may_name_the_address_alone(app: Flask, audience: None) -> None:
    outcome = apply(app, report(NL, report_id="ses:feedback-1"), source="ses")
    assert outcome.recorded == 1
    assert bounce_state(app, NL) == ("hard", ["hard"])
    unknown = apply(app, report("nobody@example.be", report_id="ses:2"), source="ses")
    assert unknown.dropped == ["no contact with that address"]


def test_the_same_report_twice_counts_once(app: Flask, audience: None) -> None:
    app.config["BOUNCE_HARD_LIMIT"] = 2
    first = apply(app, report(NL, report_id="r1"), source="generic")
    again = apply(app, report(NL, report_id="r1"), source="generic")
    assert (first.recorded, again.recorded, again.duplicates) == (1, 0, 1)
    assert bounce_state(app, NL) == (None, ["hard"])
    apply(app, report(NL, report_id="r2"), source="generic")
    assert bounce_state(app, NL) == ("hard", ["hard", "hard"])


def test_three_soft_bounces_within_the_window_make_an_address_undeliverable(
    app: Flask, audience: None
) -> None:
    for number in (1, 2):
        apply(app, report(NL, BounceKind.SOFT, report_id=f"s{number}", status="4.2.2"), "generic")
    assert bounce_state(app, NL) == (None, ["soft", "soft"])
    apply(app, report(NL, BounceKind.SOFT, report_id="s3", status="4.4.1"), "generic")
    assert bounce_state(app, NL) == ("soft", ["soft", "soft", "soft"])


def test_a_complaint_withdraws_every_topic_in_the_ledger_and_stops_mail(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    campaign = send_campaign(verp_app)
    _, message_id = last_newsletter(verp_app, NL)
    complaint = Report(
        format="arf",
        recipients=(FailedRecipient(NL, BounceKind.COMPLAINT, None, None),),
        report_id="arf-1@fbl.example",
        original_message_id=message_id,
        return_paths=(),
        feedback_type="abuse",
    )
    assert apply(verp_app, complaint).recorded == 1
    assert bounce_state(verp_app, NL) == ("complaint", ["complaint"])
    assert ("withdrawn", "complaint", "service-news") in ledger(verp_app)
    with verp_app.app_context():
        row = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.channel == "complaint")
        ).one()
        assert row.details == {"report": "smtp", "campaign": campaign}


def test_a_refusal_while_sending_is_a_hard_bounce_at_once(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.reject.add(NL)
    send_campaign(verp_app)
    assert bounce_state(verp_app, NL) == ("hard", ["hard"])
    with verp_app.app_context():
        bounce = db.session.scalars(sa.select(Bounce)).one()
        assert (bounce.source, bounce.status) == ("delivery", "5.1.1")
        assert bounce.diagnostic == "550 5.1.1 No such user here"


def test_a_temporary_refusal_counts_as_soft_only_after_the_last_try(
    app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    app.config["MAIL_MAX_ATTEMPTS"] = 2
    smtp_server.handler.greylist.add(NL)
    send_campaign(app)
    assert bounce_state(app, NL) == (None, [])
    deliver(app, now=utcnow() + timedelta(hours=2))
    assert bounce_state(app, NL) == (None, ["soft"])
    with app.app_context():
        row = db.session.get(OutboundEmail, last_newsletter(app, NL)[0])
        assert row is not None
        assert (row.status, row.attempts) == (OutboundStatus.FAILED, 2)


def test_an_undeliverable_address_gets_only_what_the_person_asks_for(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    apply(app, report(NL, report_id="x"), source="generic")
    assert bounce_state(app, NL)[0] == "hard"
    # The person subscribes again: the confirmation (an answer) goes, and confirming
    # it shows the mailbox works, which lifts the mark and is recorded.
    subscribe(client, NL, ("product-updates",))
    assert confirm(client, confirmation_link(app, smtp_server, NL)) == 200
    assert bounce_state(app, NL) == (None, ["hard"])
    (cleared,) = audited(app, "contact.deliverable")
    assert cleared.details == {"how": undeliverable.CLEARED_BY_OPT_IN, "was": "hard"}
    with app.app_context():
        confirmed = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "confirmed")
        ).all()
        assert confirmed[-1].details and confirmed[-1].details["undeliverable_cleared"] is True
        # Old bounces no longer count towards a threshold.
        assert db.session.scalars(sa.select(Bounce.counts)).all() == [False]


def test_mail_the_company_starts_is_cancelled_for_an_undeliverable_address(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, confirmed: None
) -> None:
    apply(app, report(ADDRESS, report_id="x"), source="generic")
    smtp_server.handler.clear()
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == ADDRESS))
        assert contact is not None
        assert undeliverable.may_send_to(contact.id, ADDRESS, "subscribe_confirm")
        assert not undeliverable.may_send_to(contact.id, ADDRESS, "welcome")
        assert undeliverable.may_send_to(contact.id, "office@crm.example", "welcome")
        queue_welcome(contact, [db.session.scalars(sa.select(Topic)).first()], "nl")
        db.session.commit()
    report_ = deliver(app)
    assert (report_.sent, report_.cancelled) == (0, 1)
    assert smtp_server.to(ADDRESS) == []
    with app.app_context():
        row = db.session.scalars(
            sa.select(OutboundEmail).where(OutboundEmail.kind == "welcome")
        ).all()[-1]
        assert (row.status, row.last_error) == (OutboundStatus.CANCELLED, "address undeliverable")


def test_staff_clearing_is_audited_and_starts_the_count_again(app: Flask, audience: None) -> None:
    apply(app, report(NL, report_id="x"), source="generic")
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == NL))
        assert contact is not None
        assert undeliverable.clear(contact, undeliverable.CLEARED_BY_STAFF, "new mailbox")
        assert not undeliverable.clear(contact, undeliverable.CLEARED_BY_STAFF, "twice")
        db.session.commit()
    assert bounce_state(app, NL) == (None, ["hard"])
    (entry,) = audited(app, "contact.deliverable")
    assert entry.details == {"how": "staff", "was": "hard", "reason": "new mailbox"}


def test_bounces_are_erased_with_the_person(app: Flask, audience: None) -> None:
    apply(app, report(NL, report_id="x"), source="generic")
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == NL))
        assert contact is not None
        erase_person(contact)
        db.session.commit()
        assert db.session.scalars(sa.select(Bounce)).all() == []


def test_received_reports_wait_in_the_queue_until_read(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match="unknown report source"):
            bounces.receive("carrier-pigeon", b"{}")
        queued = bounces.receive("generic", b"not what generic senders send", ["x@y"])
        assert db.session.get(IncomingReport, queued) is not None
        outcome = bounces.process_incoming(queued)
        assert outcome is not None and outcome.recorded == 0 and outcome.dropped
        assert db.session.get(IncomingReport, queued) is None
        # Taken already: another worker got it.
        assert bounces.process_incoming(queued) is None


def test_a_report_that_fails_to_be_read_stays_queued(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(source: str, body: bytes, recipients: object) -> bounces.Outcome:
        raise RuntimeError("database went away")

    with app.app_context():
        queued = bounces.receive("generic", b"{}")
        monkeypatch.setattr(bounces, "read", broken)
        outcome = bounces.process_incoming(queued)
        assert outcome is not None and outcome.dropped == ["error"]
        row = db.session.get(IncomingReport, queued)
        assert row is not None and row.attempts == 1 and "went away" in (row.last_error or "")
        # Not due again yet: the periodic job leaves it.
        assert bounces.process_queue() == 0


def test_bounce_kinds_match_the_parser(app: Flask) -> None:
    assert {kind.value for kind in BounceKind} == {kind.value for kind in BounceType}


def test_the_development_sink_refuses_the_addresses_it_is_told_to() -> None:
    sink = MailSink(refuse=["Unknown@Example.com", " "])
    port = free_port()
    controller = start_sink("127.0.0.1", port, sink)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as connection:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                connection.sendmail("a@b.example", ["unknown@example.com"], b"Subject: x\r\n\r\nx")
            assert refused.value.recipients["unknown@example.com"][0] == 550
            connection.sendmail("a@b.example", ["known@example.com"], b"Subject: x\r\n\r\nx")
    finally:
        controller.stop()
    assert sink.count == 1


def test_the_persons_copy_of_their_data_shows_what_came_back(app: Flask, audience: None) -> None:
    apply(app, report(NL, report_id="x"), source="generic")
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == NL))
        assert contact is not None
        returned = build_export(contact)["mail_returned"]
    assert returned["reason"] == "hard" and returned["undeliverable_since"]
    assert [(r["type"], r["status"]) for r in returned["reports"]] == [("hard", "5.1.1")]


def settings(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "MAIL_DEFAULT_SENDER": "CRM <info@crm.be>",
        "DKIM_DOMAIN": "crm.be",
        "BOUNCE_DOMAIN": "bounces.crm.be",
    }
    return base | values


def test_aligned_authentication_draws_no_warning() -> None:
    assert alignment_warnings(settings()) == []
    assert alignment_warnings(settings(DKIM_DOMAIN="mail.crm.be")) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"DKIM_DOMAIN": None}, "DKIM_DOMAIN is not set"),
        ({"DKIM_DOMAIN": "sender-service.example"}, "is not aligned with the From domain"),
        ({"BOUNCE_DOMAIN": "bounces.other.example"}, "use a subdomain such as bounces.crm.be"),
        ({"BOUNCE_DOMAIN": None}, "BOUNCE_DOMAIN is not set"),
    ],
)
def test_misaligned_authentication_is_named(changes: dict[str, object], expected: str) -> None:
    (warning,) = alignment_warnings(settings(**changes))
    assert expected in warning


def test_a_complaint_with_its_recipient_redacted_is_matched_by_the_mail_it_names(
    verp_app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    verp = verp_of_newsletter(verp_app, NL)
    redacted = Report(
        format="arf",
        recipients=(),
        report_id="arf-redacted@fbl.example",
        original_message_id=None,
        return_paths=(verp,),
        feedback_type="abuse",
    )
    assert apply(verp_app, redacted).recorded == 1
    assert bounce_state(verp_app, NL) == ("complaint", ["complaint"])
    nothing = Report("dsn", (), "empty@mx", None, ())
    assert apply(verp_app, nothing).dropped == ["no recipient named"]


def test_a_refused_full_mailbox_is_a_soft_bounce(
    app: Flask, audience: None, smtp_server: SMTPServer
) -> None:
    smtp_server.handler.full.add(NL)
    send_campaign(app)
    with app.app_context():
        bounce = db.session.scalars(sa.select(Bounce)).one()
        assert (bounce.kind, bounce.status) == (BounceType.SOFT, "5.2.2")
    assert bounce_state(app, NL) == (None, ["soft"])


def test_an_outcome_reads_as_one_line_for_the_log() -> None:
    outcome = bounces.Outcome(recorded=1, duplicates=2, marked=["p1"], dropped=["x", "y"])
    assert (
        str(outcome)
        == "1 recorded, 2 already known, 1 address(es) now undeliverable, dropped: x; y"
    )
    assert str(bounces.Outcome()) == "0 recorded"


def test_a_report_that_never_reads_is_dropped_after_the_last_attempt(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(source: str, body: bytes, recipients: object) -> bounces.Outcome:
        raise RuntimeError("still broken")

    with app.app_context():
        queued = bounces.receive("generic", b"{}")
        monkeypatch.setattr(bounces, "read", broken)
        for attempt in range(1, bounces.MAX_READ_ATTEMPTS):
            bounces.process_incoming(queued)
            row = db.session.get(IncomingReport, queued)
            assert row is not None and row.attempts == attempt
            db.session.rollback()
        bounces.process_incoming(queued)
        assert db.session.get(IncomingReport, queued) is None
