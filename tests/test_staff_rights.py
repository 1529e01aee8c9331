"""Data-subject rights in the staff area: requests logged with their identity check and
deadline, extension, denial, carrying out access, objection and erasure (with the legal
hold, the suppression list and art. 19 follow-ups), the disclosure register, the record
of processing, publishing privacy-notice versions, and overdue requests on the dashboard.

Everything goes through HTTP as a logged-in staff member would; the database, the audit
log, the downloads and the real SMTP server are checked afterwards. The staff UI is
Dutch and not fully translated, so the tests look at state, never at wording.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import format_date
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.keyring import address_hmac
from consentapp.models import (
    Contact,
    DataRequest,
    Disclosure,
    FollowUpTask,
    OutboundEmail,
    PrivacyNotice,
    ProcessingActivity,
    Suppression,
    text_sha256,
    utcnow,
)
from consentapp.services.register import DEFAULT_ACTIVITIES, DUTCH_ACTIVITIES
from consentapp.services.rights import add_months
from consentapp.services.suppression import is_suppressed
from tests.builders import EMAIL as ELS
from tests.builders import RECIPIENT, set_subscription
from tests.flows import capture, import_csv, record_disclosure, submit_contact_form
from tests.helpers import (
    activity,
    audited,
    csrf_token,
    deliver,
    post_form,
    prefixed_token,
    stored,
    subscribed,
    text_of,
)
from tests.services import SMTPServer

# Helpers: people and requests ----------------------------------------------------------


def log_request(
    client: FlaskClient,
    kind: str,
    *,
    channel: str = "letter",
    email: str = ELS,
    language: str = "nl",
    verification: str = "",
) -> str:
    """Log a request through /staff/requests/new; returns the request's public id."""
    data = {
        "kind": kind,
        "channel": channel,
        "email": email,
        "language": language,
        "verification": verification,
    }
    response = post_form(client, "/staff/requests/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(r"/staff/requests/([A-Za-z0-9_-]+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


PREFIXED_ACTIONS = ("verify", "extend", "deny")


def act(client: FlaskClient, public_id: str, action: str, **fields: str) -> TestResponse:
    """Press an action on the request page, with the CSRF token of that action's form.

    Verify, extend and deny are prefixed forms (`deny-reason`, `deny-csrf_token`);
    carry-out and cancel are single buttons with a plain `csrf_token`."""
    url = f"/staff/requests/{public_id}"
    if action in PREFIXED_ACTIONS:
        data = {f"{action}-csrf_token": prefixed_token(client, url, action)}
        data |= {f"{action}-{name}": value for name, value in fields.items()}
    else:
        data = {"csrf_token": csrf_token(client, url), **fields}
    return client.post(f"{url}/{action}", data=data)


def confirm_erasure(client: FlaskClient, public_id: str) -> TestResponse:
    """Press "erase", then the confirmation page's button; returns the report page."""
    asked = act(client, public_id, "carry-out")
    assert asked.status_code == 200, asked.get_data(as_text=True)[:2000]
    assert 'name="confirmed" value="1"' in asked.get_data(as_text=True)
    return act(client, public_id, "carry-out", confirmed="1")


def request_fields(app: Flask, public_id: str) -> dict[str, Any]:
    """The stored columns of one request."""
    with app.app_context():
        row = db.session.scalar(sa.select(DataRequest).where(DataRequest.public_id == public_id))
        assert row is not None
        return {attr.key: getattr(row, attr.key) for attr in sa.inspect(DataRequest).column_attrs}


def contact_row(app: Flask, public_id: str) -> dict[str, Any] | None:
    """The stored columns of one contact (also an erased one), or None when it is gone."""
    with app.app_context():
        row = db.session.scalar(sa.select(Contact).where(Contact.public_id == public_id))
        if row is None:
            return None
        return {attr.key: getattr(row, attr.key) for attr in sa.inspect(Contact).column_attrs}


def suppressed(app: Flask, email: str) -> bool:
    with app.app_context():
        return is_suppressed(email)


def flashes(client: FlaskClient) -> list[tuple[str, str]]:
    """The (category, message) flashes waiting in the client's session."""
    with client.session_transaction() as session:
        return [(str(category), str(message)) for category, message in session.get("_flashes", [])]


def mails_to(app: Flask, email: str) -> list[str]:
    """The kinds of mail queued for an address."""
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(OutboundEmail.kind).where(OutboundEmail.to_address == email)
            )
        )


def set_last_invoice(
    app: Flask, client: FlaskClient, public_id: str, day: date, **changes: str
) -> None:
    """Record the last invoice date through the contact edit form; other fields stay as
    they are unless `changes` names them."""
    contact = stored(app, ELS)
    assert contact is not None
    fields = ("email", "name", "company", "address", "phone", "fax", "language")
    data = {name: contact[name] for name in fields}
    data |= {"last_invoice_on": day.isoformat(), "reason": "Invoice sent", **changes}
    response = post_form(client, f"/staff/contacts/{public_id}/edit", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    row = contact_row(app, public_id)
    assert row is not None and row["last_invoice_on"] == day


def erase_by_request(client: FlaskClient) -> str:
    """Log a verified erasure request for Els and carry it out; returns its public id."""
    public_id = log_request(client, "erasure", verification="Signed letter, signature matches")
    response = confirm_erasure(client, public_id)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return public_id


# Helpers: disclosures, the register, notices -------------------------------------------


def disclosure_subjects(app: Flask) -> list[list[str]]:
    """Per stored disclosure, oldest first, the public ids of the people it concerned."""
    with app.app_context():
        rows = db.session.scalars(sa.select(Disclosure).order_by(Disclosure.id)).all()
        return [[s.subject_id for s in row.subjects] for row in rows]


def follow_ups(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(FollowUpTask).order_by(FollowUpTask.id)).all()
        return [
            {attr.key: getattr(row, attr.key) for attr in sa.inspect(FollowUpTask).column_attrs}
            for row in rows
        ]


def notice_texts(app: Flask, version: int) -> dict[str, str]:
    """The published texts of a notice version, by language."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(PrivacyNotice).where(PrivacyNotice.version == version)
        ).all()
        return {row.language: row.text for row in rows}


def latest_notice_version(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.max(PrivacyNotice.version))) or 0)


def post_notice(client: FlaskClient, publish: str, text_nl: str, text_en: str) -> TestResponse:
    data = {"text_nl": text_nl, "text_en": text_en, "publish": publish}
    return post_form(client, "/staff/notices", data)


NEW_NL = "Nieuw in versie twee: wij bewaren facturen tien jaar."
NEW_EN = "New in version two: we keep invoices for ten years."


def changed_texts(app: Flask) -> dict[str, str]:
    """Version 1 with one new paragraph in each language."""
    old = notice_texts(app, 1)
    return {
        "nl": f"{old['nl'].rstrip()}\n\n{NEW_NL}\n",
        "en": f"{old['en'].rstrip()}\n\n{NEW_EN}\n",
    }


# 1. Logging a request ------------------------------------------------------------------


def test_phone_request_with_identity_check_is_verified_and_due_in_one_calendar_month(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = log_request(
        admin_client, "access", channel="phone", verification="Called back on the number on file"
    )
    req = request_fields(app, public_id)
    assert (req["kind"], req["channel"], req["status"]) == ("access", "phone", "verified")
    assert req["verification"].startswith("staff:")
    assert "Called back on the number on file" in req["verification"]
    assert req["verified_by_id"] == admin_id
    assert req["logged_by_id"] == admin_id
    assert req["verified_at"] is not None
    assert abs(utcnow() - req["received_at"]) < timedelta(minutes=5)
    assert req["due_at"] == add_months(req["received_at"], 1)

    [logged] = audited(app, "request.logged")
    assert (logged.actor_id, logged.target_type, logged.target_id) == (
        admin_id,
        "request",
        public_id,
    )
    assert logged.details == {"kind": "access", "channel": "phone"}
    [verified] = audited(app, "request.verified")
    assert (verified.actor_id, verified.target_id) == (admin_id, public_id)


def test_request_logged_without_identity_check_stays_unverified(
    app: Flask, admin_client: FlaskClient
) -> None:
    public_id = log_request(admin_client, "access", channel="email")
    req = request_fields(app, public_id)
    assert req["status"] == "unverified"
    assert (req["verification"], req["verified_by_id"], req["verified_at"]) == (None, None, None)
    assert audited(app, "request.verified") == []


def test_carrying_out_an_unverified_request_only_flashes(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    contact_id = submit_contact_form(app, client)
    public_id = log_request(admin_client, "erasure")
    response = act(admin_client, public_id, "carry-out")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/requests/{public_id}"
    assert [category for category, _ in flashes(admin_client)] == ["info"]
    assert request_fields(app, public_id)["status"] == "unverified"
    assert contact_row(app, contact_id) is not None
    assert audited(app, "person.erased") == []
    assert audited(app, "request.erasure") == []


def test_request_logged_with_the_address_in_other_case_concerns_the_contact(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    """Staff type the address as it stands in the letter; it is the same mailbox."""
    contact_id = submit_contact_form(app, client)
    public_id = log_request(
        admin_client, "erasure", email="Els.Janssens@Example.be", verification="Signed letter"
    )
    assert request_fields(app, public_id)["subject_id"] == contact_id
    assert confirm_erasure(admin_client, public_id).status_code == 200
    assert request_fields(app, public_id)["status"] == "done"
    assert contact_row(app, contact_id) is None


# 2. Deadline arithmetic ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "months", "due"),
    [
        (datetime(2023, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2023, 2, 28, 9, 30, tzinfo=UTC)),
        (datetime(2024, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2024, 2, 29, 9, 30, tzinfo=UTC)),
        (datetime(2024, 12, 15, 8, 0, tzinfo=UTC), 1, datetime(2025, 1, 15, 8, 0, tzinfo=UTC)),
        (datetime(2024, 11, 30, 8, 0, tzinfo=UTC), 2, datetime(2025, 1, 30, 8, 0, tzinfo=UTC)),
        (datetime(2024, 12, 31, 8, 0, tzinfo=UTC), 2, datetime(2025, 2, 28, 8, 0, tzinfo=UTC)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_last_day_of_a_shorter_month(
    received: datetime, months: int, due: datetime
) -> None:
    assert add_months(received, months) == due


# 3. Extension --------------------------------------------------------------------------


def test_extension_by_two_months_moves_the_deadline_and_records_the_reason(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = log_request(admin_client, "access", verification="Copy of ID enclosed")
    before = request_fields(app, public_id)["due_at"]
    response = act(admin_client, public_id, "extend", months="2", reason="Archives to search")
    assert response.status_code == 302
    req = request_fields(app, public_id)
    assert req["due_at"] == add_months(before, 2)
    assert req["extension_reason"] == "Archives to search"
    [entry] = audited(app, "request.extended")
    assert (entry.actor_id, entry.target_id) == (admin_id, public_id)
    assert entry.details == {"months": 2, "reason": "Archives to search"}


def test_deadline_can_be_extended_only_once(app: Flask, admin_client: FlaskClient) -> None:
    public_id = log_request(admin_client, "access", verification="Copy of ID enclosed")
    assert act(admin_client, public_id, "extend", months="1", reason="First").status_code == 302
    once = request_fields(app, public_id)
    response = act(admin_client, public_id, "extend", months="2", reason="Second")
    assert response.status_code == 302
    assert [category for category, _ in flashes(admin_client)] == ["info"]
    again = request_fields(app, public_id)
    assert (again["due_at"], again["extension_reason"]) == (once["due_at"], "First")
    assert len(audited(app, "request.extended")) == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_extension_without_a_reason_is_400(
    app: Flask, admin_client: FlaskClient, reason: str
) -> None:
    public_id = log_request(admin_client, "access", verification="Copy of ID enclosed")
    before = request_fields(app, public_id)
    response = act(admin_client, public_id, "extend", months="1", reason=reason)
    assert response.status_code == 400
    assert request_fields(app, public_id) == before
    assert audited(app, "request.extended") == []


def test_extension_by_three_months_is_400(app: Flask, admin_client: FlaskClient) -> None:
    public_id = log_request(admin_client, "access", verification="Copy of ID enclosed")
    before = request_fields(app, public_id)
    response = act(admin_client, public_id, "extend", months="3", reason="Very busy")
    assert response.status_code == 400
    assert request_fields(app, public_id) == before
    assert audited(app, "request.extended") == []


# 4. Denial -----------------------------------------------------------------------------

REASONS = "We can't confirm it's you: the letter is unsigned.\nPlease send a signed copy."


@pytest.mark.parametrize("language", ["nl", "en"])
def test_denial_stores_the_reasons_and_mails_them_with_the_authority(
    app: Flask,
    admin_client: FlaskClient,
    admin_id: int,
    smtp_server: SMTPServer,
    language: str,
) -> None:
    """The authority is named with its Dutch address in either language."""
    email = "someone@example.be"
    public_id = log_request(admin_client, "erasure", email=email, language=language)
    response = act(admin_client, public_id, "deny", reason=REASONS)
    assert response.status_code == 302
    req = request_fields(app, public_id)
    assert (req["status"], req["denial_reason"]) == ("denied", REASONS)
    assert req["completed_at"] is not None
    [entry] = audited(app, "request.denied")
    assert (entry.actor_id, entry.target_id) == (admin_id, public_id)

    deliver(app)
    [mail] = smtp_server.to(email)
    body = text_of(mail)
    for line in REASONS.splitlines():
        assert line in body
    assert "Drukpersstraat 35, 1000 Brussel" in body
    assert "gegevensbeschermingsautoriteit" in body.casefold()
    if language == "nl":
        assert "Gegevensbeschermingsautoriteit" in body


@pytest.mark.parametrize("reason", ["", "  "])
def test_denial_without_reasons_is_400(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer, reason: str
) -> None:
    email = "someone@example.be"
    public_id = log_request(admin_client, "erasure", email=email)
    response = act(admin_client, public_id, "deny", reason=reason)
    assert response.status_code == 400
    req = request_fields(app, public_id)
    assert (req["status"], req["denial_reason"]) == ("unverified", None)
    assert audited(app, "request.denied") == []
    assert mails_to(app, email) == []


# 5. Erasure ----------------------------------------------------------------------------


def test_erasure_by_staff_removes_the_contact_and_suppresses_the_address(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    contact_id = submit_contact_form(app, client)
    public_id = erase_by_request(admin_client)

    assert contact_row(app, contact_id) is None
    assert stored(app, ELS) is None
    req = request_fields(app, public_id)
    assert (req["status"], req["email"], req["subject_id"]) == ("done", None, contact_id)
    with app.app_context():
        entry = db.session.scalar(
            sa.select(Suppression).where(Suppression.address_hmac == address_hmac(ELS))
        )
        assert entry is not None and entry.reason == "erasure"
    [erased] = audited(app, "person.erased")
    assert (erased.actor_id, erased.target_type, erased.target_id) == (
        admin_id,
        "contact",
        contact_id,
    )
    assert erased.details is not None and erased.details["held_until"] is None


def test_erased_address_cannot_be_added_back_by_staff_or_import(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    submit_contact_form(app, client)
    erase_by_request(admin_client)

    assert capture(admin_client, email=ELS).status_code == 400
    assert stored(app, ELS) is None

    response = import_csv(admin_client, f"naam;e-mail\nEls;{ELS}\nKept;kept@example.be\n")
    assert response.status_code == 200
    assert stored(app, ELS) is None
    assert stored(app, "kept@example.be") is not None
    [entry] = audited(app, "contacts.import")
    assert entry.details is not None
    assert (entry.details["suppressed"], entry.details["created"]) == (1, 1)


# 6. Legal hold -------------------------------------------------------------------------


def test_erasure_of_a_recently_invoiced_contact_keeps_invoicing_data_under_a_legal_hold(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    contact_id = submit_contact_form(app, client)
    invoiced = date(date.today().year - 2, 3, 15)
    set_last_invoice(app, admin_client, contact_id, invoiced, fax="09 265 81 12")
    before = contact_row(app, contact_id)
    assert before is not None and before["phone"] and before["fax"]

    erase_by_request(admin_client)

    after = contact_row(app, contact_id)
    assert after is not None, "the invoicing data must stay"
    assert (after["email"], after["phone"], after["fax"]) == (None, "", "")
    for field in ("name", "company", "address"):
        assert after[field] == before[field], field
    hold = date(invoiced.year + 10, 3, 15)
    assert after["legal_hold_until"] == hold
    assert after["erased_at"] is not None
    [erased] = audited(app, "person.erased")
    assert erased.details is not None and erased.details["held_until"] == hold.isoformat()

    page = admin_client.get(f"/staff/contacts/{contact_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.test_request_context():  # the page's language, as the admin client gets it
        shown = format_date(hold, "medium")
    assert shown in html, "the page shows until when the data is held"
    assert ELS not in html


def counted(html: str, what: str) -> int:
    """The number in the row of `what` on the erasure confirmation or report page."""
    match = re.search(re.escape(what) + r'[^<]*</td><td class="num">(\d+)</td>', html)
    assert match, what
    return int(match.group(1))


def test_erasure_asks_first_naming_the_person_and_what_goes_and_stays(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    contact_id = submit_contact_form(app, client)
    set_subscription(app, ELS, "product-updates", "confirmed")
    public_id = log_request(admin_client, "erasure", verification="Signed letter")

    asked = act(admin_client, public_id, "carry-out")
    assert asked.status_code == 200
    html = asked.get_data(as_text=True)
    assert "Els Janssens wissen?" in html and ELS in html
    assert counted(html, "Berichten via het contactformulier") == 1
    assert counted(html, "Nieuwsbriefinschrijvingen") == 1
    assert counted(html, "Verzoeken: soort, data en status blijven") == 1
    assert counted(html, "Toestemmingsregels, onder een willekeurig nummer") >= 1
    assert "Geen wettelijke bewaarplicht" in html
    assert 'name="confirmed" value="1"' in html
    assert f'href="/staff/requests/{public_id}"' in html, "a way back without erasing"
    assert contact_row(app, contact_id) is not None, "nothing is erased before the button"
    assert audited(app, "person.erased") == []
    assert request_fields(app, public_id)["status"] == "verified"

    report = act(admin_client, public_id, "carry-out", confirmed="1")
    assert report.status_code == 200
    html = report.get_data(as_text=True)
    assert "Els Janssens is gewist" in html
    assert counted(html, "Berichten via het contactformulier") == 1
    assert counted(html, "Nieuwsbriefinschrijvingen") == 1
    assert contact_row(app, contact_id) is None
    assert len(audited(app, "person.erased")) == 1
    assert request_fields(app, public_id)["status"] == "done"


def test_the_erasure_confirmation_states_the_legal_hold(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    contact_id = submit_contact_form(app, client)
    invoiced = date(date.today().year - 2, 3, 15)
    set_last_invoice(app, admin_client, contact_id, invoiced)
    public_id = log_request(admin_client, "erasure", verification="Signed letter")
    html = act(admin_client, public_id, "carry-out").get_data(as_text=True)
    with app.test_request_context():
        until = format_date(date(invoiced.year + 10, 3, 15), "long")
    assert "Wettelijke bewaarplicht:" in html and until in html
    assert "Uit de contactfiche: e-mailadres, telefoon en fax" in html
    assert contact_row(app, contact_id) is not None


def test_erasure_after_the_ten_year_hold_deletes_the_contact(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    contact_id = submit_contact_form(app, client)
    set_last_invoice(app, admin_client, contact_id, date(date.today().year - 11, 3, 15))
    erase_by_request(admin_client)
    assert contact_row(app, contact_id) is None
    [erased] = audited(app, "person.erased")
    assert erased.details is not None and erased.details["held_until"] is None


# 7. Art. 19 follow-ups -----------------------------------------------------------------


def test_erasure_creates_a_follow_up_for_each_recipient_until_marked_done(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    contact_id = submit_contact_form(app, client)
    assert record_disclosure(admin_client, admin_id, [ELS]).status_code == 302
    with app.app_context():
        disclosure_id = db.session.scalar(sa.select(Disclosure.id))
    erase_by_request(admin_client)

    [task] = follow_ups(app)
    assert (task["disclosure_id"], task["subject_id"]) == (disclosure_id, contact_id)
    assert task["done_at"] is None
    queue = admin_client.get("/staff/requests").get_data(as_text=True)
    done_url = f"/staff/follow-ups/{task['id']}/done"
    assert f'action="{done_url}"' in queue
    assert RECIPIENT in queue

    token = csrf_token(admin_client, "/staff/requests")
    response = admin_client.post(done_url, data={"csrf_token": token})
    assert response.status_code == 302
    [task] = follow_ups(app)
    assert task["done_at"] is not None and task["done_by_id"] == admin_id
    [entry] = audited(app, "disclosure.follow_up_done")
    assert (entry.actor_id, entry.target_id) == (admin_id, str(disclosure_id))
    assert entry.details is not None and entry.details["subject"] == contact_id
    assert done_url not in admin_client.get("/staff/requests").get_data(as_text=True)


# 8. The disclosure register ------------------------------------------------------------


def test_disclosure_is_recorded_for_the_known_addresses_and_lists_the_unknown(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    contact_id = submit_contact_form(app, client)
    response = record_disclosure(
        admin_client, admin_id, ["Els.Janssens@Example.be", "nobody@example.be"]
    )
    assert response.status_code == 302
    assert disclosure_subjects(app) == [[contact_id]]
    assert any("nobody@example.be" in message for _, message in flashes(admin_client))
    [entry] = audited(app, "disclosure.record")
    assert entry.actor_id == admin_id
    assert entry.details is not None and entry.details["subjects"] == [contact_id]


def test_disclosure_about_only_unknown_addresses_is_400_and_stores_nothing(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    response = record_disclosure(admin_client, admin_id, ["nobody@example.be", "not-an-address"])
    assert response.status_code == 400
    assert disclosure_subjects(app) == []
    assert audited(app, "disclosure.record") == []


def test_disclosure_shows_on_the_contact_page(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    contact_id = submit_contact_form(app, client)
    assert RECIPIENT not in admin_client.get(f"/staff/contacts/{contact_id}").get_data(as_text=True)
    assert record_disclosure(admin_client, admin_id, [ELS]).status_code == 302
    page = admin_client.get(f"/staff/contacts/{contact_id}").get_data(as_text=True)
    assert RECIPIENT in page


def test_disclosure_register_csv_names_recipient_and_subject_and_is_audited(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    contact_id = submit_contact_form(app, client)
    assert record_disclosure(admin_client, admin_id, [ELS]).status_code == 302
    response = admin_client.get("/staff/disclosures.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    [header, row] = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    line = dict(zip(header, row, strict=True))
    assert line["recipient"] == RECIPIENT
    assert line["subjects"] == contact_id
    assert line["approved_by"] == "admin@crm.example"
    [entry] = audited(app, "disclosures.export")
    assert entry.actor_id == admin_id


def test_staff_role_can_record_disclosures(
    app: Flask, client: FlaskClient, staff_client: FlaskClient, admin_id: int, staff_id: int
) -> None:
    contact_id = submit_contact_form(app, client)
    response = record_disclosure(staff_client, admin_id, [ELS])
    assert response.status_code == 302
    assert disclosure_subjects(app) == [[contact_id]]
    with app.app_context():
        disclosure = db.session.scalar(sa.select(Disclosure))
        assert disclosure is not None
        assert (disclosure.recorded_by_id, disclosure.approved_by_id) == (staff_id, None)


# 9. Access by letter -------------------------------------------------------------------


def test_access_request_by_letter_is_verified_then_carried_out_as_a_json_download(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    submit_contact_form(app, client)
    public_id = log_request(admin_client, "access", channel="letter")
    assert request_fields(app, public_id)["status"] == "unverified"

    check = "Copy of ID card enclosed with the letter"
    assert act(admin_client, public_id, "verify", verification=check).status_code == 302
    req = request_fields(app, public_id)
    assert (req["status"], req["verification"]) == ("verified", f"staff: {check}")
    assert req["verified_by_id"] == admin_id

    response = act(admin_client, public_id, "carry-out")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.get_data(as_text=True))
    assert data["contact"]["email"] == ELS
    ledger = data["consent_ledger"]
    assert ledger, "the export holds the consent ledger"
    assert ("contact", "given", 1) in [
        (e["purpose"], e["action"], e["notice_version"]) for e in ledger
    ]
    assert request_fields(app, public_id)["status"] == "done"


# 10. Objection -------------------------------------------------------------------------


def test_objection_by_staff_stops_every_newsletter_and_suppresses_the_address(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    submit_contact_form(app, client)
    set_subscription(app, ELS, "product-updates", "confirmed")
    set_subscription(app, ELS, "service-news", "pending")
    public_id = log_request(admin_client, "objection", channel="phone", verification="Called back")
    assert act(admin_client, public_id, "carry-out").status_code == 302
    assert subscribed(app, ELS) == {
        "product-updates": "unsubscribed",
        "service-news": "unsubscribed",
    }
    assert suppressed(app, ELS)
    assert request_fields(app, public_id)["status"] == "done"


# 11. The record of processing ----------------------------------------------------------


def test_register_lists_the_five_seeded_activities(admin_client: FlaskClient) -> None:
    response = admin_client.get("/staff/register")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    names = [str(item["name"]) for item in DUTCH_ACTIVITIES]
    assert len(names) == 5
    assert re.findall(r"<h2>([^<]*)</h2>", html) == names
    english = admin_client.get("/staff/register?lang=en").get_data(as_text=True)
    assert re.findall(r"<h2>([^<]*)</h2>", english) == [a["name"] for a in DEFAULT_ACTIVITIES]


def test_register_as_markdown(admin_client: FlaskClient) -> None:
    response = admin_client.get("/staff/register.md")
    assert response.status_code == 200 and response.mimetype == "text/markdown"
    text = response.get_data(as_text=True)
    assert text.startswith("# Record of processing activities")
    assert re.findall(r"^## (.+)$", text, flags=re.M) == [a["name"] for a in DEFAULT_ACTIVITIES]


def test_register_as_csv(admin_client: FlaskClient) -> None:
    response = admin_client.get("/staff/register.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == ",".join(ProcessingActivity.FIELDS + ProcessingActivity.CHOSEN)
    rows = list(csv.reader(io.StringIO(text)))
    assert [row[0] for row in rows[1:]] == [a["name"] for a in DEFAULT_ACTIVITIES]


def test_admin_edits_an_activity_and_the_changed_fields_are_audited(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    entry = activity(app)
    url = f"/staff/register/{entry['id']}"
    data = {name: entry[name] for name in ProcessingActivity.FIELDS}
    data |= {"bases": entry["bases"].split(), "recipient_kinds": entry["recipient_kinds"].split()}
    data |= {"recipients": "Qualified staff only.", "retention": "Five years after the last order."}
    response = post_form(admin_client, url, data)
    assert response.status_code == 302
    after = activity(app)
    assert after["recipients"] == "Qualified staff only."
    assert after["retention"] == "Five years after the last order."
    assert after["purposes"] == entry["purposes"]
    [audit] = audited(app, "register.edit")
    assert (audit.actor_id, audit.target_id) == (admin_id, str(entry["id"]))
    assert audit.details == {"fields": ["recipients", "retention"]}


def test_staff_role_reads_the_register_but_cannot_edit_it(
    app: Flask, staff_client: FlaskClient
) -> None:
    entry = activity(app)
    assert staff_client.get("/staff/register").status_code == 200
    assert staff_client.get(f"/staff/register/{entry['id']}").status_code == 403


# 12. Publishing the privacy notice -----------------------------------------------------


def test_notice_preview_shows_the_changes_and_publishes_nothing(
    app: Flask, admin_client: FlaskClient
) -> None:
    texts = changed_texts(app)
    response = post_notice(admin_client, "0", texts["nl"], texts["en"])
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<span class="diff-add">+ {NEW_NL}</span>' in html
    assert f'<span class="diff-add">+ {NEW_EN}</span>' in html
    assert latest_notice_version(app) == 1
    assert audited(app, "notice.publish") == []


def test_notice_publish_creates_version_two_and_keeps_version_one_online(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    old = notice_texts(app, 1)
    texts = changed_texts(app)
    response = post_notice(admin_client, "1", texts["nl"], texts["en"])
    assert response.status_code == 302
    assert latest_notice_version(app) == 2
    assert notice_texts(app, 2) == texts
    assert notice_texts(app, 1) == old

    visitor = app.test_client()
    assert NEW_NL in visitor.get("/privacy").get_data(as_text=True)
    assert NEW_NL not in visitor.get("/privacy/1").get_data(as_text=True)
    english = app.test_client()
    english_page = english.get("/privacy", headers={"Accept-Language": "en"})
    assert NEW_EN in english_page.get_data(as_text=True)

    [entry] = audited(app, "notice.publish")
    assert (entry.actor_id, entry.target_id) == (admin_id, "2")
    assert entry.details == {
        "sha256": {"nl": text_sha256(texts["nl"]), "en": text_sha256(texts["en"])}
    }


def test_unchanged_notice_texts_publish_nothing(app: Flask, admin_client: FlaskClient) -> None:
    old = notice_texts(app, 1)
    response = post_notice(admin_client, "1", old["nl"], old["en"])
    assert response.status_code == 302
    assert latest_notice_version(app) == 1
    assert audited(app, "notice.publish") == []


def test_unchanged_notice_texts_as_a_browser_sends_them_publish_nothing(
    app: Flask, admin_client: FlaskClient
) -> None:
    """Browsers submit a textarea with CRLF line ends; that is no new version."""
    old = notice_texts(app, 1)
    crlf = {lang: text.replace("\n", "\r\n") for lang, text in old.items()}
    response = post_notice(admin_client, "1", crlf["nl"], crlf["en"])
    assert response.status_code == 302
    assert latest_notice_version(app) == 1
    assert audited(app, "notice.publish") == []


@pytest.mark.parametrize("language", ["nl", "en"])
def test_notice_without_a_title_line_is_400(
    app: Flask, admin_client: FlaskClient, language: str
) -> None:
    texts = changed_texts(app)
    texts[language] = texts[language].partition("\n")[2]  # the "# Title" line removed
    for publish in ("0", "1"):
        response = post_notice(admin_client, publish, texts["nl"], texts["en"])
        assert response.status_code == 400, publish
    assert latest_notice_version(app) == 1
    assert audited(app, "notice.publish") == []


def test_staff_role_cannot_publish_notices(app: Flask, staff_client: FlaskClient) -> None:
    assert staff_client.get("/staff/notices").status_code == 403
    texts = changed_texts(app)
    token = csrf_token(staff_client, "/staff/requests/new")
    data = {"csrf_token": token, "text_nl": texts["nl"], "text_en": texts["en"], "publish": "1"}
    assert staff_client.post("/staff/notices", data=data).status_code == 403
    assert latest_notice_version(app) == 1


# 13. The dashboard ---------------------------------------------------------------------

REQUESTS_STAT = re.compile(
    r'<a class="stat( stat-[a-z]+)?" href="/staff/requests"><span class="number">(\d+)</span>'
)


def test_dashboard_counts_open_requests_and_flags_overdue_ones(
    app: Flask, admin_client: FlaskClient
) -> None:
    public_id = log_request(admin_client, "access", email="someone@example.be")
    match = REQUESTS_STAT.search(admin_client.get("/staff/").get_data(as_text=True))
    assert match, "no open-requests figure on the dashboard"
    assert (match.group(1), match.group(2)) == (None, "1")

    with app.app_context():
        row = db.session.scalar(sa.select(DataRequest).where(DataRequest.public_id == public_id))
        assert row is not None
        row.due_at = utcnow() - timedelta(days=1)
        db.session.commit()

    match = REQUESTS_STAT.search(admin_client.get("/staff/").get_data(as_text=True))
    assert match, "no open-requests figure on the dashboard"
    assert (match.group(1), match.group(2)) == (" stat-alert", "1")
