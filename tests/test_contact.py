"""The contact form: intake, consent record, mails, and every way to get it wrong."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import ConsentEvent, Contact, Inquiry, OutboundEmail
from tests.builders import VALID
from tests.helpers import csrf_token, deliver, error_messages, post_form
from tests.services import SMTPServer


def counts(app: Flask) -> tuple[int, int, int, int]:
    """Contacts, inquiries, ledger rows and outbox rows in the database."""
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (Contact, Inquiry, ConsentEvent, OutboundEmail)
        )


def test_submission_redirects_to_thank_you_page(client: FlaskClient) -> None:
    response = post_form(client, "/contact", VALID)
    assert response.status_code == 302
    assert response.headers["Location"] == "/contact/thanks"
    thanks = client.get("/contact/thanks")
    assert thanks.status_code == 200
    assert "Bedankt" in thanks.get_data(as_text=True)


def test_submission_stores_contact_inquiry_and_consent(app: Flask, client: FlaskClient) -> None:
    post_form(client, "/contact", VALID, environ_base={"REMOTE_ADDR": "203.0.113.7"})
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact))
        assert contact is not None
        assert contact.email == "els.janssens@example.be"
        assert contact.name == "Els Janssens"
        assert contact.phone == "+3292658111"
        assert contact.source_channel == "web_form"
        inquiry = db.session.scalar(sa.select(Inquiry))
        assert inquiry is not None
        assert inquiry.contact_id == contact.id
        assert inquiry.status == "new"
        assert inquiry.submitted["email"] == "Els.Janssens@Example.be"
        assert inquiry.submitted["phone"] == "09 265 81 11"
        event = db.session.scalar(sa.select(ConsentEvent))
        assert event is not None
        assert event.subject_id == contact.public_id
        assert (event.purpose, event.action, event.channel) == ("contact", "given", "web_form")
        assert event.client_address == "203.0.113.7"
        assert event.notice_version == 1
        assert event.notice_language == "nl"
        assert event.notice is not None and event.notice_sha256 == event.notice.sha256
        assert event.details == {"inquiry": inquiry.public_id}


def test_forwarded_for_header_is_ignored_without_trusted_proxy(
    app: Flask, client: FlaskClient
) -> None:
    post_form(
        client,
        "/contact",
        VALID,
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
        headers={"X-Forwarded-For": "1.2.3.4"},
    )
    with app.app_context():
        event = db.session.scalar(sa.select(ConsentEvent))
        assert event is not None and event.client_address == "198.51.100.4"


def test_visitor_and_staff_receive_their_mails(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    post_form(client, "/contact", VALID)
    report = deliver(app)
    assert report.sent == 2
    [ack] = smtp_server.to("els.janssens@example.be")
    assert ack["Subject"] == "We hebben uw bericht ontvangen"
    assert ack.get_body(("plain",)) is not None and ack.get_body(("html",)) is not None
    ack_text = ack.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "domeinnaam" not in ack_text, "the acknowledgement must not echo the message"
    [staff] = smtp_server.to("office@crm.example")
    assert staff["Reply-To"] == "els.janssens@example.be"
    assert "Els Janssens" in staff["Subject"]
    staff_text = staff.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Kunnen jullie onze domeinnaam verhuizen?" in staff_text


def test_acknowledgement_follows_the_page_language(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    client.get("/contact?lang=en")
    post_form(client, "/contact", VALID)
    deliver(app)
    [ack] = smtp_server.to("els.janssens@example.be")
    assert ack["Subject"] == "We received your message"
    with app.app_context():
        event = db.session.scalar(sa.select(ConsentEvent))
        assert event is not None and event.notice_language == "en"


def test_existing_contact_is_not_overwritten(app: Flask, client: FlaskClient) -> None:
    post_form(client, "/contact", VALID)
    impostor = {**VALID, "name": "Someone Else", "phone": "0470 12 34 56", "message": "Hi!"}
    assert post_form(client, "/contact", impostor).status_code == 302
    with app.app_context():
        contacts = db.session.scalars(sa.select(Contact)).all()
        assert len(contacts) == 1
        assert contacts[0].name == "Els Janssens"
        assert contacts[0].phone == "+3292658111"
        inquiries = db.session.scalars(sa.select(Inquiry).order_by(Inquiry.id)).all()
        assert [i.submitted["name"] for i in inquiries] == ["Els Janssens", "Someone Else"]
        assert inquiries[1].contact_id == contacts[0].id


def test_repeated_submission_is_stored_once(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client, "/contact")
    for _ in range(2):
        response = client.post("/contact", data={**VALID, "csrf_token": token})
        assert response.status_code == 302
    assert counts(app) == (1, 1, 1, 2)


def test_acknowledgements_to_one_address_are_capped(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    for number in range(5):
        post_form(client, "/contact", {**VALID, "message": f"Vraag nummer {number}"})
    deliver(app)
    assert len(smtp_server.to("els.janssens@example.be")) == 3
    assert len(smtp_server.to("office@crm.example")) == 5


def test_subscribe_box_is_never_pre_ticked(client: FlaskClient) -> None:
    html = client.get("/contact").get_data(as_text=True)
    assert 'name="subscribe"' in html
    assert "checked" not in html


BAD_INPUTS = [
    ("name", "", "Vul een naam in."),
    ("name", "x" * 201, "200"),
    ("name", "Els\r\nBcc: victim@example.com", "één regel"),
    ("email", "", "Vul een e-mailadres in."),
    ("email", "not-an-address", "geldig e-mailadres"),
    ("email", "els@", "geldig e-mailadres"),
    ("email", "els@example.be\r\nBcc: victim@example.com", "regeleinden"),
    ("email", "a" * 250 + "@example.be", "254"),
    ("company", "c" * 201, "200"),
    ("company", "ACME\nInjected: header", "één regel"),
    ("address", "a" * 501, "500"),
    ("address", "Straat 1\x00", "stuurcodes"),
    ("phone", "12", "telefoonnummer"),
    ("phone", "not a number", "telefoonnummer"),
    ("phone", "0" * 41, "40"),
    ("fax", "+32 9 123 45 67", "niet geldig"),
    ("message", "", "Schrijf uw bericht."),
    ("message", "m" * 5001, "5.000"),
    ("message", "Hallo\x00wereld", "stuurcodes"),
    ("topics", "no-such-topic", "geen van de aangeboden mogelijkheden"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_INPUTS)
def test_bad_input_is_refused_with_a_clear_message(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    field: str,
    value: str,
    expected: str,
) -> None:
    data = {**VALID, field: value}
    if field == "topics":
        data["subscribe"] = "y"
    response = post_form(client, "/contact", data)
    assert response.status_code == 400
    messages = " ".join(error_messages(response))
    assert expected in messages, messages
    assert counts(app) == (0, 0, 0, 0)
    deliver(app)
    assert smtp_server.messages == []


def test_refused_form_keeps_what_was_typed(client: FlaskClient) -> None:
    response = post_form(client, "/contact", {**VALID, "email": "broken"})
    html = response.get_data(as_text=True)
    assert "Kunnen jullie onze domeinnaam verhuizen?" in html
    assert 'value="Els Janssens"' in html


def test_topics_require_the_newsletter_box_and_vice_versa(client: FlaskClient) -> None:
    response = post_form(client, "/contact", {**VALID, "topics": "service-news"})
    assert response.status_code == 400
    assert "Vink het vakje" in " ".join(error_messages(response))
    response = post_form(client, "/contact", {**VALID, "subscribe": "y"})
    assert response.status_code == 400
    assert "minstens één nieuwsbrief" in " ".join(error_messages(response))


def test_missing_csrf_token_keeps_the_input(app: Flask, client: FlaskClient) -> None:
    client.get("/contact")
    response = client.post("/contact", data=VALID)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Het formulier was verlopen" in html
    assert "Kunnen jullie onze domeinnaam verhuizen?" in html
    assert counts(app) == (0, 0, 0, 0)


def test_honeypot_pretends_success_and_keeps_nothing(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    response = post_form(client, "/contact", {**VALID, "website": "http://spam.example"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/contact/thanks"
    assert counts(app) == (0, 0, 0, 0)
    deliver(app)
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"name": "x", "email": "x@example.be", "message": "hi"}'),
        ("text/plain", "name=x&email=x@example.be&message=hi"),
        ("application/xml", "<contact/>"),
    ],
)
def test_wrong_content_type_is_415(
    app: Flask, client: FlaskClient, content_type: str, body: str
) -> None:
    response = client.post("/contact", data=body, content_type=content_type)
    assert response.status_code == 415
    assert "Dit soort inhoud wordt niet aanvaard" in response.get_data(as_text=True)
    assert counts(app) == (0, 0, 0, 0)


def test_multipart_submission_is_accepted(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client, "/contact")
    response = client.post(
        "/contact", data={**VALID, "csrf_token": token}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    assert counts(app)[1] == 1


def test_oversized_body_is_413(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client, "/contact")
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/contact", data={**VALID, "csrf_token": token, "message": huge})
    assert response.status_code == 413
    assert "te groot" in response.get_data(as_text=True)
    assert counts(app) == (0, 0, 0, 0)


def test_rate_limit_answers_429(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client, "/contact")
    statuses = [
        client.post(
            "/contact", data={**VALID, "csrf_token": token, "message": f"Vraag {n}"}
        ).status_code
        for n in range(6)
    ]
    assert statuses == [302] * 5 + [429]
    limited = client.post("/contact", data={**VALID, "csrf_token": token})
    assert "Te veel" in limited.get_data(as_text=True)
    assert counts(app)[1] == 5


def test_rate_limit_is_per_client_address(client: FlaskClient) -> None:
    token = csrf_token(client, "/contact")
    for n in range(5):
        client.post("/contact", data={**VALID, "csrf_token": token, "message": f"Vraag {n}"})
    other = client.post(
        "/contact",
        data={**VALID, "csrf_token": token, "message": "Andere bezoeker"},
        environ_base={"REMOTE_ADDR": "192.0.2.99"},
    )
    assert other.status_code == 302


def test_form_links_the_notice_version_it_records(client: FlaskClient) -> None:
    html = client.get("/contact").get_data(as_text=True)
    assert 'href="/privacy/1"' in html
    assert 'name="notice_version" type="hidden" value="1"' in html
