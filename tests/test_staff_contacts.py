"""Contacts in the staff area: search, the contact page, rectification, unsubscribing on
someone's behalf, offline consent, CSV export and import, and the inquiry inbox.

Everything goes through HTTP as a logged-in staff member would; the database, the
ledger, the audit log and the real SMTP server are checked afterwards. Test data is
set up through the service layer where the form under test is not the point.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.models import (
    AuditEntry,
    ConsentEvent,
    Contact,
    Inquiry,
    InquiryNote,
    OutboundEmail,
    Topic,
)
from consentapp.services import suppression
from consentapp.services.contacts import find_or_create_contact
from tests.builders import VALID, set_subscription
from tests.flows import CAPTURE, MAPPING, capture, confirm, confirmation_link, import_csv, upload
from tests.helpers import (
    audited,
    csrf_token,
    deliver,
    post_form,
    prefixed_token,
    stored,
    subscribed,
)
from tests.services import SMTPServer

ELS = "els@example.be"
ELS_DETAILS = {
    "name": "Els Janssens",
    "company": "Janssens BV",
    "address": "Kerkstraat 1",
    "phone": "09 265 81 11",
}

# Helpers: test data through the service layer ---------------------------------------


def add_contact(app: Flask, email: str, language: str = "nl", **details: str) -> str:
    """A contact created by the service the public forms use; returns its public id."""
    with app.app_context():
        contact = find_or_create_contact(email, language, "web_form", **details)
        db.session.commit()
        return contact.public_id


def suppress(app: Flask, email: str) -> None:
    """Put an address on the suppression list, as an erasure does."""
    with app.app_context():
        suppression.suppress(email, "erasure")
        db.session.commit()


# Helpers: reading the database -------------------------------------------------------


def contact_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(Contact)) or 0)


@dataclass(frozen=True)
class Event:
    """One ledger row, as far as these tests look at it."""

    purpose: str
    action: str
    channel: str
    topic: str | None
    evidence: str | None
    details: dict[str, Any] | None


def events_of(app: Flask, public_id: str) -> list[Event]:
    """The ledger rows about one contact, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(ConsentEvent, Topic.slug)
            .outerjoin(Topic, Topic.id == ConsentEvent.topic_id)
            .where(ConsentEvent.subject_id == public_id)
            .order_by(ConsentEvent.id)
        ).all()
        return [
            Event(e.purpose, e.action, e.channel, slug, e.evidence, e.details) for e, slug in rows
        ]


def ledger_size(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) or 0)


def mail_kinds(app: Flask, email: str) -> list[str]:
    """The kinds of mail queued for an address."""
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(OutboundEmail.kind)
                .where(OutboundEmail.to_address == email)
                .order_by(OutboundEmail.id)
            )
        )


# Helpers: pages and forms ------------------------------------------------------------

LISTED = re.compile(r'<tr><td><a href="/staff/contacts/[^"]+">[^<]*</a></td><td>([^<]*)</td>')


def listed(client: FlaskClient, query: str = "") -> list[str]:
    """The e-mail addresses the contact list shows, in order."""
    response = client.get(f"/staff/contacts{query}")
    assert response.status_code == 200
    return LISTED.findall(response.get_data(as_text=True))


def edit(client: FlaskClient, public_id: str, **changes: str) -> TestResponse:
    """Post the edit form with Els's stored details, changed by `changes`."""
    url = f"/staff/contacts/{public_id}/edit"
    data = {
        "email": ELS,
        "name": "Els Janssens",
        "company": "Janssens BV",
        "address": "Kerkstraat 1",
        "phone": "+3292658111",
        "fax": "",
        "language": "nl",
        "reason": "Called to correct her details",
        **changes,
    }
    return post_form(client, url, data)


def export(client: FlaskClient, **changes: Any) -> TestResponse:
    """Post the export form; a change of None leaves the field out."""
    data = {"fields": ["email", "name"], "topic": "", "status": "", "purpose": "Mailing", **changes}
    response = post_form(
        client, "/staff/contacts/export", {k: v for k, v in data.items() if v is not None}
    )
    response.get_data()  # read the stream to its end, as a browser does, so it closes here
    return response


def csv_rows(response: TestResponse) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def bad_lines(response: TestResponse) -> list[int]:
    """The line numbers in the report's table of rows with errors."""
    return [
        int(n) for n in re.findall(r'<td class="num">(\d+)</td>', response.get_data(as_text=True))
    ]


def kept_uploads(app: Flask) -> list[Path]:
    folder = Path(app.instance_path) / "imports"
    return list(folder.iterdir()) if folder.is_dir() else []


def submit_two_inquiries(app: Flask, client: FlaskClient) -> str:
    """Two contact-form messages from one address, the second with other details.

    Returns the public id of the second inquiry."""
    assert post_form(client, "/contact", VALID).status_code == 302
    second = {**VALID, "name": "Els Peeters", "phone": "0470 12 34 56", "message": "Nieuw nr."}
    assert post_form(client, "/contact", second).status_code == 302
    with app.app_context():
        inquiries = db.session.scalars(sa.select(Inquiry).order_by(Inquiry.id)).all()
        assert len(inquiries) == 2
        return inquiries[1].public_id


# 1. Search ---------------------------------------------------------------------------


@pytest.fixture
def three_contacts(app: Flask) -> None:
    add_contact(app, "els@example.be", name="Els Janssens", company="Janssens BV")
    add_contact(app, "piet@peeters.be", name="Piet Peeters", company="Acme NV")
    add_contact(app, "anna@smet.be", name="Anna De Smet", company="ACME Belgium")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("JANSSENS", {"els@example.be"}),  # part of the name, other case
        ("sMeT", {"anna@smet.be"}),  # name and e-mail
        ("PEETERS.BE", {"piet@peeters.be"}),  # part of the e-mail
        ("acme", {"piet@peeters.be", "anna@smet.be"}),  # part of the company
    ],
)
def test_search_finds_part_of_name_email_or_company_in_any_case(
    admin_client: FlaskClient, three_contacts: None, query: str, expected: set[str]
) -> None:
    assert set(listed(admin_client, f"?q={query}")) == expected


def test_search_ignores_case_of_accented_letters(app: Flask, admin_client: FlaskClient) -> None:
    """Names like Émile or Élodie are found as typed, and in lower case."""
    add_contact(app, "emile@example.be", name="Émile Dubois")
    add_contact(app, "other@example.be", name="Other Person")
    assert listed(admin_client, "?q=Émile") == ["emile@example.be"]
    assert listed(admin_client, "?q=émile") == ["emile@example.be"]


def test_search_filters_by_topic_and_status(app: Flask, admin_client: FlaskClient) -> None:
    for email in ("a@example.be", "b@example.be", "c@example.be", "d@example.be"):
        add_contact(app, email, name=email[0].upper())
    set_subscription(app, "a@example.be", "product-updates", "confirmed")
    set_subscription(app, "b@example.be", "product-updates", "pending")
    set_subscription(app, "c@example.be", "service-news", "confirmed")
    set_subscription(app, "c@example.be", "product-updates", "unsubscribed")

    both = listed(admin_client, "?topic=product-updates&status=confirmed")
    assert both == ["a@example.be"]
    assert listed(admin_client, "?topic=product-updates") == [
        "a@example.be",
        "b@example.be",
        "c@example.be",
    ]
    assert listed(admin_client, "?status=confirmed") == ["a@example.be", "c@example.be"]
    assert listed(admin_client, "?status=pending") == ["b@example.be"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["b@example.be", "c@example.be", "a@example.be"]),
        ("email", ["a@example.be", "b@example.be", "c@example.be"]),
        ("company", ["c@example.be", "a@example.be", "b@example.be"]),
        ("created", ["c@example.be", "b@example.be", "a@example.be"]),
    ],
)
def test_contacts_sort_by_the_chosen_column(
    app: Flask, admin_client: FlaskClient, sort: str, expected: list[str]
) -> None:
    add_contact(app, "a@example.be", name="Carla", company="Beta")
    add_contact(app, "b@example.be", name="Anna", company="Gamma")
    add_contact(app, "c@example.be", name="Bert", company="Alpha")
    assert listed(admin_client, f"?sort={sort}") == expected


def test_contacts_are_paged_by_fifty(app: Flask, admin_client: FlaskClient) -> None:
    with app.app_context():
        for n in range(53):
            find_or_create_contact(f"p{n:02d}@example.be", "nl", "web_form", name=f"Person {n:02d}")
        db.session.commit()
    first = admin_client.get("/staff/contacts")
    html = first.get_data(as_text=True)
    assert len(LISTED.findall(html)) == 50
    assert re.search(r'href="/staff/contacts\?[^"]*page=2"', html), "no link to page 2"
    second = listed(admin_client, "?page=2")
    assert second == ["p50@example.be", "p51@example.be", "p52@example.be"]
    page_two = admin_client.get("/staff/contacts?page=2").get_data(as_text=True)
    assert "page=3" not in page_two
    assert "page=1" in page_two, "page 2 links back to page 1"


# 2. The contact page -----------------------------------------------------------------


def test_contact_page_shows_the_timeline_with_the_notice_version(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    post_form(client, "/contact", VALID)
    contact = stored(app, "els.janssens@example.be")
    assert contact is not None
    response = admin_client.get(f"/staff/contacts/{contact['public_id']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "contact: gegeven" in html
    assert re.search(r'href="/privacy/1(\?[^"]*)?"', html), "no link to notice version 1"


def test_opening_a_contact_is_audited(app: Flask, admin_client: FlaskClient, admin_id: int) -> None:
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    assert admin_client.get(f"/staff/contacts/{public_id}").status_code == 200
    [entry] = audited(app, "contact.view")
    assert entry.actor_id == admin_id
    assert (entry.target_type, entry.target_id) == ("contact", public_id)


def test_unknown_contact_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/staff/contacts/no-such-contact").status_code == 404


# 3. Rectification --------------------------------------------------------------------


def test_edit_saves_fields_with_ledger_rows_and_one_audit_entry(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    response = edit(admin_client, public_id, name="Els Peeters", phone="0470 12 34 56")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/contacts/{public_id}"

    contact = stored(app, ELS)
    assert contact is not None
    assert contact["name"] == "Els Peeters"
    assert contact["phone"] == "+32470123456"
    assert contact["company"] == "Janssens BV"

    rectified = [e for e in events_of(app, public_id) if e.action == "rectified"]
    assert [(e.purpose, e.channel) for e in rectified] == [("contact", "staff")] * 2
    assert sorted(e.details["field"] for e in rectified if e.details) == ["name", "phone"]

    [entry] = audited(app, "contact.edit")
    assert entry.actor_id == admin_id and entry.target_id == public_id
    assert entry.details == {"fields": ["name", "phone"], "reason": "Called to correct her details"}


@pytest.mark.parametrize("reason", ["", "   "])
def test_edit_without_a_reason_is_400_and_changes_nothing(
    app: Flask, admin_client: FlaskClient, reason: str
) -> None:
    """A reason of only spaces is no reason either."""
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    before = stored(app, ELS)
    response = edit(admin_client, public_id, name="Els Peeters", reason=reason)
    assert response.status_code == 400
    assert stored(app, ELS) == before
    assert [e for e in events_of(app, public_id) if e.action == "rectified"] == []
    assert audited(app, "contact.edit") == []


def test_edit_to_another_contacts_address_is_400_and_changes_nothing(
    app: Flask, admin_client: FlaskClient
) -> None:
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    add_contact(app, "other@example.be", name="Other")
    before = stored(app, ELS)
    response = edit(admin_client, public_id, email="Other@Example.be", name="Els Peeters")
    assert response.status_code == 400
    assert stored(app, ELS) == before
    assert stored(app, "other@example.be")["name"] == "Other"  # type: ignore[index]
    assert audited(app, "contact.edit") == []


def test_edit_to_a_suppressed_address_is_refused(app: Flask, admin_client: FlaskClient) -> None:
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    suppress(app, "erased@example.be")
    before = stored(app, ELS)
    response = edit(admin_client, public_id, email="erased@example.be")
    assert response.status_code == 400
    assert stored(app, ELS) == before
    assert stored(app, "erased@example.be") is None
    assert audited(app, "contact.edit") == []


# 4. Unsubscribe on someone's behalf --------------------------------------------------


def test_staff_unsubscribe_stops_one_topic_with_ledger_and_audit(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    set_subscription(app, ELS, "product-updates", "confirmed")
    set_subscription(app, ELS, "service-news", "confirmed")
    token = csrf_token(admin_client, f"/staff/contacts/{public_id}")
    response = admin_client.post(
        f"/staff/contacts/{public_id}/unsubscribe",
        data={"csrf_token": token, "topic": "product-updates"},
    )
    assert response.status_code == 302
    assert subscribed(app, ELS) == {"product-updates": "unsubscribed", "service-news": "confirmed"}
    last = events_of(app, public_id)[-1]
    assert (last.purpose, last.action, last.channel, last.topic) == (
        "newsletter",
        "withdrawn",
        "staff",
        "product-updates",
    )
    [entry] = audited(app, "contact.unsubscribe")
    assert entry.actor_id == admin_id and entry.target_id == public_id
    assert entry.details is not None and entry.details["topics"] == ["product-updates"]


# 5. Offline consent ------------------------------------------------------------------


def test_phone_consent_creates_contact_with_evidence_and_mails_a_confirmation(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer, admin_id: int
) -> None:
    response = capture(admin_client, topics=["service-news"])
    assert response.status_code == 302
    email = CAPTURE["email"]
    contact = stored(app, email)
    assert contact is not None
    assert response.headers["Location"] == f"/staff/contacts/{contact['public_id']}"
    assert contact["source_channel"] == "phone"
    assert contact["name"] == "Marc Peeters" and contact["phone"] == "+32470123456"

    events = events_of(app, contact["public_id"])
    given = [e for e in events if (e.purpose, e.action) == ("contact", "given")]
    assert [(e.channel, e.evidence) for e in given] == [("phone", CAPTURE["evidence"])]
    assert given[0].details is not None and given[0].details["obtained_on"] == "2024-03-01"
    assert subscribed(app, email) == {"service-news": "pending"}

    deliver(app)
    path = confirmation_link(app, smtp_server, email)
    assert confirm(app.test_client(), path) == 200
    assert subscribed(app, email) == {"service-news": "confirmed"}

    [entry] = audited(app, "consent.capture")
    assert entry.actor_id == admin_id and entry.target_id == contact["public_id"]
    assert entry.details is not None
    assert entry.details["channel"] == "phone" and entry.details["pending"] == ["service-news"]


def test_signed_agreement_with_newsletter_consent_confirms_at_once(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    response = capture(
        admin_client,
        channel="agreement",
        evidence="Agreement 2024-017, art. 9",
        topics=["product-updates", "company-news"],
        agreement_covers_newsletters="y",
    )
    assert response.status_code == 302
    email = CAPTURE["email"]
    assert subscribed(app, email) == {"product-updates": "confirmed", "company-news": "confirmed"}
    contact = stored(app, email)
    assert contact is not None
    confirmed = [e for e in events_of(app, contact["public_id"]) if e.action == "confirmed"]
    assert {(e.channel, e.evidence) for e in confirmed} == {
        ("agreement", "Agreement 2024-017, art. 9")
    }
    assert "subscribe_confirm" not in mail_kinds(app, email)
    deliver(app)
    assert smtp_server.to(email) == []


@pytest.mark.parametrize("channel", ["email", "phone"])
def test_newsletter_consent_without_a_signed_agreement_stays_pending(
    app: Flask, admin_client: FlaskClient, channel: str
) -> None:
    response = capture(
        admin_client, channel=channel, topics=["product-updates"], agreement_covers_newsletters="y"
    )
    assert response.status_code == 302
    assert subscribed(app, CAPTURE["email"]) == {"product-updates": "pending"}


@pytest.mark.parametrize("evidence", [None, "", "   "])
def test_offline_consent_without_evidence_is_400_and_stores_nothing(
    app: Flask, admin_client: FlaskClient, evidence: str | None
) -> None:
    """Evidence of only spaces is missing evidence: a 400 with the form, never a 500."""
    response = capture(admin_client, evidence=evidence, topics=["service-news"])
    assert response.status_code == 400
    assert contact_count(app) == 0
    assert ledger_size(app) == 0
    assert audited(app, "consent.capture") == []


def test_offline_consent_for_a_suppressed_address_is_400_and_stores_nothing(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    suppress(app, CAPTURE["email"])
    response = capture(admin_client, topics=["service-news"])
    assert response.status_code == 400
    assert contact_count(app) == 0
    assert ledger_size(app) == 0
    assert audited(app, "consent.capture") == []
    deliver(app)
    assert smtp_server.messages == []


def test_offline_consent_without_confirmation_mail_stays_pending_and_sends_nothing(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    response = capture(admin_client, send_confirmation=None, topics=["service-news"])
    assert response.status_code == 302
    assert subscribed(app, CAPTURE["email"]) == {"service-news": "pending"}
    assert mail_kinds(app, CAPTURE["email"]) == []
    deliver(app)
    assert smtp_server.messages == []


# 6. Export ---------------------------------------------------------------------------


def test_export_holds_exactly_the_chosen_columns(app: Flask, admin_client: FlaskClient) -> None:
    add_contact(app, ELS, **ELS_DETAILS)
    add_contact(app, "piet@example.be", name="Piet", company="Acme", phone="0470 12 34 56")
    response = export(admin_client, fields=["email", "name"])
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert csv_rows(response) == [
        ["email", "name"],
        [ELS, "Els Janssens"],
        ["piet@example.be", "Piet"],
    ]
    body = response.get_data(as_text=True)
    assert "Janssens BV" not in body and "Acme" not in body and "470" not in body


def test_export_neutralises_spreadsheet_formulas(app: Flask, admin_client: FlaskClient) -> None:
    add_contact(app, ELS, name='=HYPERLINK("http://evil.example","x")', company="@SUM(A1)")
    response = export(admin_client, fields=["name", "company"])
    assert csv_rows(response)[1] == ['\'=HYPERLINK("http://evil.example","x")', "'@SUM(A1)"]


def test_export_lists_subscriptions_as_slug_and_status(
    app: Flask, admin_client: FlaskClient
) -> None:
    add_contact(app, ELS, **ELS_DETAILS)
    add_contact(app, "piet@example.be", name="Piet")
    set_subscription(app, ELS, "service-news", "pending")
    set_subscription(app, ELS, "product-updates", "confirmed")
    response = export(admin_client, fields=["email", "subscriptions"])
    assert csv_rows(response) == [
        ["email", "subscriptions"],
        [ELS, "product-updates:confirmed;service-news:pending"],
        ["piet@example.be", ""],
    ]


def test_export_topic_and_status_filter_limits_the_rows(
    app: Flask, admin_client: FlaskClient
) -> None:
    for email in ("a@example.be", "b@example.be", "c@example.be"):
        add_contact(app, email)
    set_subscription(app, "a@example.be", "product-updates", "confirmed")
    set_subscription(app, "b@example.be", "product-updates", "pending")
    set_subscription(app, "c@example.be", "service-news", "confirmed")
    response = export(admin_client, fields=["email"], topic="product-updates", status="confirmed")
    assert csv_rows(response) == [["email"], ["a@example.be"]]
    by_topic = export(admin_client, fields=["email"], topic="product-updates")
    assert csv_rows(by_topic) == [["email"], ["a@example.be"], ["b@example.be"]]


def test_export_is_audited_with_fields_and_purpose(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    add_contact(app, ELS)
    export(
        admin_client,
        fields=["email", "phone"],
        topic="service-news",
        status="confirmed",
        purpose="Partner installing the new hardware",
    )
    [entry] = audited(app, "contacts.export")
    assert entry.actor_id == admin_id
    assert entry.details == {
        "fields": ["email", "phone"],
        "topic": "service-news",
        "status": "confirmed",
        "purpose": "Partner installing the new hardware",
    }


@pytest.mark.parametrize(
    "changes",
    [{"purpose": None}, {"purpose": ""}, {"purpose": "   "}, {"fields": None}, {"fields": []}],
)
def test_export_without_purpose_or_fields_is_400(
    app: Flask, admin_client: FlaskClient, changes: dict[str, Any]
) -> None:
    """No export without fields and a stated purpose (spaces are no purpose)."""
    add_contact(app, ELS, **ELS_DETAILS)
    response = export(admin_client, **changes)
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert ELS not in response.get_data(as_text=True)
    assert audited(app, "contacts.export") == []


# 7. Import ---------------------------------------------------------------------------


def test_upload_redirects_to_the_mapping_step(app: Flask, admin_client: FlaskClient) -> None:
    response = upload(admin_client, b"naam;e-mail\nEls;els@example.be\n")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/staff/contacts/import/")
    page = admin_client.get(location)
    assert page.status_code == 200
    assert 'value="e-mail"' in page.get_data(as_text=True)
    assert len(kept_uploads(app)) == 1


def test_import_creates_good_rows_with_channel_and_evidence(
    app: Flask, admin_client: FlaskClient
) -> None:
    text = (
        "naam;e-mail;telefoon;taal\n"
        "Els Janssens;Els@Example.be;09 265 81 11;nl\n"
        "John Smith;john@example.com;+44 20 7946 0958;EN\n"
    )
    response = import_csv(admin_client, text, phone="telefoon", language="taal")
    assert response.status_code == 200
    els, john = stored(app, ELS), stored(app, "john@example.com")
    assert els is not None and john is not None
    assert (els["name"], els["phone"], els["language"]) == ("Els Janssens", "+3292658111", "nl")
    assert (john["language"], john["source_channel"]) == ("en", "email")
    for contact in (els, john):
        [event] = events_of(app, contact["public_id"])
        assert (event.purpose, event.action, event.channel) == ("contact", "given", "email")
        assert event.evidence == MAPPING["evidence"]
    assert kept_uploads(app) == [], "the upload holds personal data: removed after the import"


def test_import_takes_channel_and_evidence_from_columns(
    app: Flask, admin_client: FlaskClient
) -> None:
    text = (
        "e-mail;naam;kanaal;bewijs\n"
        "a@example.be;A;phone;Call 12 May\n"
        "b@example.be;B;Agreement;Contract 7\n"
    )
    response = import_csv(
        admin_client,
        text,
        channel_column="kanaal",
        channel="",
        evidence_column="bewijs",
        evidence="",
    )
    assert response.status_code == 200
    for email, channel, evidence in (
        ("a@example.be", "phone", "Call 12 May"),
        ("b@example.be", "agreement", "Contract 7"),
    ):
        contact = stored(app, email)
        assert contact is not None and contact["source_channel"] == channel
        [event] = events_of(app, contact["public_id"])
        assert (event.channel, event.evidence) == (channel, evidence)


def test_import_skips_bad_rows_and_reports_their_lines(
    app: Flask, admin_client: FlaskClient
) -> None:
    text = (
        "naam;e-mail;telefoon;taal;bewijs\n"
        "Good One;one@example.be;09 265 81 11;nl;Mail 1\n"  # line 2
        "Bad Mail;not-an-address;;nl;Mail 2\n"  # line 3
        "Bad Phone;phone@example.be;12;nl;Mail 3\n"  # line 4
        "Bad Language;lang@example.be;;fr;Mail 4\n"  # line 5
        "No Evidence;noproof@example.be;;nl;\n"  # line 6
        "Duplicate;ONE@example.be;;nl;Mail 6\n"  # line 7
        "Good Two;two@example.be;;en;Mail 7\n"  # line 8
    )
    response = import_csv(
        admin_client,
        text,
        phone="telefoon",
        language="taal",
        evidence_column="bewijs",
        evidence="",
    )
    assert response.status_code == 200
    assert bad_lines(response) == [3, 4, 5, 6, 7]
    assert stored(app, "one@example.be")["name"] == "Good One"  # type: ignore[index]
    assert stored(app, "two@example.be") is not None
    assert contact_count(app) == 2
    for email in ("phone@example.be", "lang@example.be", "noproof@example.be"):
        assert stored(app, email) is None


def test_import_reports_line_numbers_of_the_file_after_an_empty_line(
    app: Flask, admin_client: FlaskClient
) -> None:
    """Reported line numbers must be the file's, so staff can find the row."""
    text = (
        "naam;e-mail\n"
        "Good One;one@example.be\n"  # line 2
        "\n"  # line 3: an empty row, as spreadsheets leave them
        "Bad Mail;not-an-address\n"  # line 4
    )
    response = import_csv(admin_client, text)
    assert response.status_code == 200
    assert bad_lines(response) == [4]


def test_import_skips_suppressed_addresses(app: Flask, admin_client: FlaskClient) -> None:
    suppress(app, "erased@example.be")
    text = "naam;e-mail\nErased;Erased@Example.be\nKept;kept@example.be\n"
    response = import_csv(admin_client, text)
    assert response.status_code == 200
    assert stored(app, "erased@example.be") is None
    assert stored(app, "kept@example.be") is not None
    [entry] = audited(app, "contacts.import")
    assert entry.details is not None and entry.details["suppressed"] == 1


def test_import_never_overwrites_an_existing_contact(app: Flask, admin_client: FlaskClient) -> None:
    public_id = add_contact(app, ELS, **ELS_DETAILS)
    before = stored(app, ELS)
    text = "naam;e-mail;telefoon\nSomeone Else;els@example.be;0470 12 34 56\n"
    response = import_csv(admin_client, text, phone="telefoon")
    assert response.status_code == 200
    assert stored(app, ELS) == before
    assert contact_count(app) == 1
    [entry] = audited(app, "contacts.import")
    assert entry.details is not None
    assert (entry.details["created"], entry.details["existing"]) == (0, 1)
    assert [e.action for e in events_of(app, public_id)] == ["given"]


def test_import_with_a_topic_requests_double_opt_in(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    text = "naam;e-mail\nA;a@example.be\nB;b@example.be\n"
    response = import_csv(admin_client, text, topics=["service-news"])
    assert response.status_code == 200
    deliver(app)
    for email in ("a@example.be", "b@example.be"):
        assert subscribed(app, email) == {"service-news": "pending"}
        assert confirmation_link(app, smtp_server, email).startswith("/subscribe/confirm/")


def test_import_without_confirmation_mail_sends_nothing(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    text = "naam;e-mail\nA;a@example.be\n"
    response = import_csv(admin_client, text, topics=["service-news"], send_confirmation=None)
    assert response.status_code == 200
    assert subscribed(app, "a@example.be") == {"service-news": "pending"}
    deliver(app)
    assert smtp_server.messages == []


def test_import_confirms_only_rows_resting_on_a_signed_agreement(
    app: Flask, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    text = "naam;e-mail;kanaal\nA;a@example.be;agreement\nB;b@example.be;email\n"
    response = import_csv(
        admin_client,
        text,
        channel_column="kanaal",
        channel="",
        topics=["product-updates"],
        agreement_covers_newsletters="y",
    )
    assert response.status_code == 200
    assert subscribed(app, "a@example.be") == {"product-updates": "confirmed"}
    assert subscribed(app, "b@example.be") == {"product-updates": "pending"}
    assert "subscribe_confirm" not in mail_kinds(app, "a@example.be")
    assert mail_kinds(app, "b@example.be") == ["subscribe_confirm"]
    [entry] = audited(app, "contacts.import")
    assert entry.details is not None
    assert (entry.details["confirmed"], entry.details["requested"]) == (1, 1)


def test_import_of_a_file_that_is_not_utf8_is_400(app: Flask, admin_client: FlaskClient) -> None:
    response = upload(admin_client, "naam;e-mail\nJosé;a@b.be\n".encode("latin-1"))
    assert response.status_code == 400
    assert "UTF-8" in response.get_data(as_text=True)
    assert kept_uploads(app) == []


def test_import_of_a_file_with_only_a_header_is_400(app: Flask, admin_client: FlaskClient) -> None:
    response = upload(admin_client, b"naam;e-mail\n")
    assert response.status_code == 400
    assert kept_uploads(app) == []


def test_import_of_a_too_large_file_is_refused_with_a_message(
    app: Flask, admin_client: FlaskClient
) -> None:
    app.config["IMPORT_MAX_BYTES"] = 2000
    rows = "".join(f"Person {n};p{n}@example.be\n" for n in range(200))
    data = f"naam;e-mail\n{rows}".encode()
    assert len(data) > 2000
    response = upload(admin_client, data)
    assert 400 <= response.status_code < 500
    html = response.get_data(as_text=True)
    assert "too large" in html or "te groot" in html
    assert kept_uploads(app) == []


def test_import_accepts_files_up_to_the_configured_limit(
    app: Flask, admin_client: FlaskClient
) -> None:
    """IMPORT_MAX_BYTES (20 MB by default), not the 1 MB form limit, bounds an upload."""
    limit = app.config["IMPORT_MAX_BYTES"]
    assert limit > app.config["MAX_CONTENT_LENGTH"], "the import limit is the larger one"
    rows = "".join(f"Person {n};p{n}@example.be\n" for n in range(60_000))
    data = f"naam;e-mail\n{rows}".encode()
    assert app.config["MAX_CONTENT_LENGTH"] < len(data) < limit
    response = upload(admin_client, data)
    assert response.status_code == 302, response.status_code


def test_import_without_an_email_column_is_400_and_imports_nothing(
    app: Flask, admin_client: FlaskClient
) -> None:
    response = import_csv(admin_client, "naam;e-mail\nEls;els@example.be\n", email="")
    assert response.status_code == 400
    assert contact_count(app) == 0
    assert audited(app, "contacts.import") == []


def test_import_is_audited_with_its_counts(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    add_contact(app, "old@example.be")
    suppress(app, "erased@example.be")
    text = (
        "naam;e-mail\n"
        "New;new@example.be\n"
        "Old;old@example.be\n"
        "Erased;erased@example.be\n"
        "Bad;not-an-address\n"
    )
    import_csv(admin_client, text, topics=["company-news"])
    [entry] = audited(app, "contacts.import")
    assert entry.actor_id == admin_id
    assert entry.details == {
        "rows": 4,
        "created": 1,
        "existing": 1,
        "confirmed": 0,
        "requested": 2,
        "suppressed": 1,
        "undeliverable": 0,
        "bad": 1,
        "topics": ["company-news"],
    }


# 8. Inquiries ------------------------------------------------------------------------


def test_inquiry_page_lists_differences_from_the_stored_contact(
    app: Flask, client: FlaskClient, admin_client: FlaskClient
) -> None:
    public_id = submit_two_inquiries(app, client)
    response = admin_client.get(f"/staff/inquiries/{public_id}")
    assert response.status_code == 200
    offered = re.findall(r'name="apply-fields" value="([^"]+)"', response.get_data(as_text=True))
    assert offered == ["name", "phone"]


def test_opening_an_inquiry_is_audited(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = submit_two_inquiries(app, client)
    admin_client.get(f"/staff/inquiries/{public_id}")
    [entry] = audited(app, "inquiry.view")
    assert entry.actor_id == admin_id
    assert (entry.target_type, entry.target_id) == ("inquiry", public_id)


def test_applying_inquiry_details_rectifies_the_contact(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = submit_two_inquiries(app, client)
    url = f"/staff/inquiries/{public_id}"
    token = prefixed_token(admin_client, url, "apply")
    response = admin_client.post(
        f"{url}/apply",
        data={
            "apply-csrf_token": token,
            "apply-fields": ["name", "phone"],
            "apply-reason": "New name after marriage",
        },
    )
    assert response.status_code == 302
    contact = stored(app, "els.janssens@example.be")
    assert contact is not None
    assert (contact["name"], contact["phone"]) == ("Els Peeters", "+32470123456")
    rectified = [e for e in events_of(app, contact["public_id"]) if e.action == "rectified"]
    assert sorted(e.details["field"] for e in rectified if e.details) == ["name", "phone"]
    assert {e.channel for e in rectified} == {"staff"}
    [entry] = audited(app, "contact.edit")
    assert entry.actor_id == admin_id and entry.target_id == contact["public_id"]
    assert entry.details is not None and entry.details["fields"] == ["name", "phone"]
    assert "New name after marriage" in entry.details["reason"]


def test_inquiry_status_and_assignment_are_saved_and_audited(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, staff_id: int
) -> None:
    public_id = submit_two_inquiries(app, client)
    url = f"/staff/inquiries/{public_id}"
    token = prefixed_token(admin_client, url, "update")
    response = admin_client.post(
        f"{url}/update",
        data={
            "update-csrf_token": token,
            "update-status": "done",
            "update-assigned_to": str(staff_id),
        },
    )
    assert response.status_code == 302
    with app.app_context():
        inquiry = db.session.scalar(sa.select(Inquiry).where(Inquiry.public_id == public_id))
        assert inquiry is not None
        assert (inquiry.status, inquiry.assigned_to_id) == ("done", staff_id)
    [entry] = audited(app, "inquiry.update")
    assert entry.target_id == public_id
    assert entry.details == {"status": ["new", "done"], "assigned_to": [None, staff_id]}


def test_inquiry_note_is_stored_and_audited_without_its_text(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    public_id = submit_two_inquiries(app, client)
    url = f"/staff/inquiries/{public_id}"
    token = prefixed_token(admin_client, url, "note")
    text = "Called her back: new number confirmed"
    response = admin_client.post(f"{url}/note", data={"note-csrf_token": token, "note-text": text})
    assert response.status_code == 302
    with app.app_context():
        [note] = db.session.scalars(sa.select(InquiryNote)).all()
        assert (note.text, note.author_id, note.inquiry.public_id) == (text, admin_id, public_id)
    [entry] = audited(app, "inquiry.note")
    assert entry.actor_id == admin_id and entry.target_id == public_id
    assert text not in repr(entry.details)
    assert text in admin_client.get(url).get_data(as_text=True)


# 9. The staff role -------------------------------------------------------------------


def test_staff_role_works_with_contacts_consent_export_import_and_inquiries(
    app: Flask, client: FlaskClient, staff_client: FlaskClient
) -> None:
    inquiry_id = submit_two_inquiries(app, client)
    contact = stored(app, "els.janssens@example.be")
    assert contact is not None
    for url in (
        "/staff/contacts",
        f"/staff/contacts/{contact['public_id']}",
        f"/staff/contacts/{contact['public_id']}/edit",
        "/staff/consent/new",
        "/staff/contacts/export",
        "/staff/contacts/import",
        "/staff/inquiries",
        f"/staff/inquiries/{inquiry_id}",
    ):
        assert staff_client.get(url).status_code == 200, url
    assert capture(staff_client).status_code == 302
    exported = export(staff_client)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert import_csv(staff_client, "naam;e-mail\nA;a@example.be\n").status_code == 200


@pytest.mark.parametrize("url", ["/staff/audit", "/staff/users"])
def test_staff_role_cannot_open_admin_pages(staff_client: FlaskClient, url: str) -> None:
    assert staff_client.get(url).status_code == 403


def test_contact_list_and_edit_page_views_are_audited(
    app: Flask, admin_client: FlaskClient, client: FlaskClient
) -> None:
    post_form(client, "/contact", VALID)
    admin_client.get("/staff/contacts?q=els")
    with app.app_context():
        public_id = db.session.scalar(sa.select(Contact.public_id))
    admin_client.get(f"/staff/contacts/{public_id}/edit")
    admin_client.get("/staff/inquiries")
    with app.app_context():
        actions = list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
        listing = db.session.scalar(
            sa.select(AuditEntry).where(AuditEntry.action == "contacts.list")
        )
    assert {"contacts.list", "contact.view", "inquiries.list"} <= set(actions)
    assert listing is not None and listing.details is not None
    assert listing.details["shown"] == 1
    assert "els" not in str(listing.details), "the search text itself is not kept"
    with app.app_context():
        from consentapp.keyring import fingerprint

        assert listing.details["query_fingerprint"] == fingerprint("  ELS ")
        assert fingerprint("els") != fingerprint("jan")
    result = app.test_cli_runner().invoke(args=["audit-fingerprint", "Els"])
    assert result.output.strip() == listing.details["query_fingerprint"]


def test_import_uploads_never_imported_are_removed_after_a_day(app: Flask) -> None:
    import time as clock

    from consentapp.services.csv_import import discard_old_uploads, store_upload

    with app.test_request_context():
        upload = store_upload(b"email\nold@example.be\n")
        assert discard_old_uploads() == 0
        assert discard_old_uploads(clock.time() + 2 * 86400) == 1
        from consentapp.services.csv_import import ImportFileError, load_upload

        with pytest.raises(ImportFileError):
            load_upload(upload.name)
