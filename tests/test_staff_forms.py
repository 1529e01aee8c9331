"""Staff (and public) forms that fail keep the input and say, next to each field and in
a summary that links to it, what to change, in our own words."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import Inquiry, InquiryNote
from tests.flows import submit_contact_form
from tests.helpers import csrf_token, error_messages, prefixed_token

WTFORMS_WORDS = ("Dit veld is vereist", "karakters", "This field is required", "Field must")


def summary_links(html: str) -> list[tuple[str, str]]:
    """(href, text) of each link in the error summary."""
    match = re.search(
        r'<div class="alert alert-error error-summary" role="alert" tabindex="-1" '
        r"data-error-summary>(.*?)</div>",
        html,
        flags=re.S,
    )
    assert match, "no error summary"
    return re.findall(r'<a href="(#[^"]+)">(.*?)</a>', match.group(1), flags=re.S)


def inquiry_page(app: Flask, client: FlaskClient) -> str:
    """Els writes in; the staff page of her message."""
    submit_contact_form(app, client)
    with app.app_context():
        public_id = db.session.scalar(sa.select(Inquiry.public_id))
    return f"/staff/inquiries/{public_id}"


def add_note(client: FlaskClient, page: str, text: str) -> tuple[int, str]:
    response = client.post(
        f"{page}/note",
        data={"note-csrf_token": prefixed_token(client, page, "note"), "note-text": text},
    )
    return response.status_code, response.get_data(as_text=True)


def notes(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count(InquiryNote.id))) or 0)


def test_an_empty_inquiry_note_is_refused_with_its_message_next_to_the_field(
    app: Flask, client: FlaskClient, staff_client: FlaskClient
) -> None:
    page = inquiry_page(app, client)
    status, html = add_note(staff_client, page, "   ")
    assert status == 400
    assert "Schrijf een notitie." in html
    assert 'id="note-text-errors"' in html and 'aria-invalid="true"' in html
    assert summary_links(html) == [("#note-text", "Notitie: Schrijf een notitie.")]
    assert '<option selected value="new">' in html, "the other forms show what is stored"
    assert notes(app) == 0


def test_a_too_long_note_says_the_limit_and_its_length_and_keeps_the_text(
    app: Flask, client: FlaskClient, staff_client: FlaskClient
) -> None:
    page = inquiry_page(app, client)
    text = "Teruggebeld. " + "x" * 5110
    status, html = add_note(staff_client, page, text)
    assert status == 400
    assert "Schrijf hoogstens 5.000 tekens (nu 5.123)." in html
    assert text in html, "the input is kept"
    assert not any(words in html for words in WTFORMS_WORDS)
    assert notes(app) == 0


def test_a_request_form_that_fails_names_the_field_in_its_summary(
    app: Flask, admin_client: FlaskClient
) -> None:
    response = admin_client.post(
        "/staff/requests/new",
        data={"csrf_token": csrf_token(admin_client, "/staff/requests/new"), "kind": "access"},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert ("#email", "E-mailadres waarover het gaat: Vul een e-mailadres in.") in [
        (href, text.replace("&#34;", '"')) for href, text in summary_links(html)
    ]
    assert not any(words in html for words in WTFORMS_WORDS)


def test_an_unknown_role_is_refused_on_the_account_page_with_a_message(
    app: Flask, admin_client: FlaskClient, staff_id: int
) -> None:
    page = f"/staff/users/{staff_id}"
    response = admin_client.post(
        f"{page}/role", data={"csrf_token": csrf_token(admin_client, page), "role": "owner"}
    )
    assert response.status_code == 400
    assert error_messages(response) == ["Kies een van de aangeboden mogelijkheden."]
    assert [href for href, _text in summary_links(response.get_data(as_text=True))] == ["#role"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Vul een naam in."),
        ("message", "", "Schrijf uw bericht."),
        ("message", "m", "Schrijf minstens 2 tekens (nu 1)."),
        ("message", "m" * 5001, "Schrijf hoogstens 5.000 tekens (nu 5.001)."),
    ],
)
def test_the_public_contact_form_says_what_to_change_in_our_words(
    app: Flask, client: FlaskClient, field: str, value: str, message: str
) -> None:
    data = {"name": "Els Janssens", "email": "els@example.be", "message": "Een vraag."}
    data[field] = value
    response = client.post("/contact", data={"csrf_token": csrf_token(client, "/contact"), **data})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in error_messages(response)
    assert [href for href, _text in summary_links(html)] == [f"#{field}"]
    assert not any(words in html for words in WTFORMS_WORDS)


def test_a_date_wtforms_cannot_read_is_refused_in_our_words(
    app: Flask, admin_client: FlaskClient
) -> None:
    page = "/staff/consent/new"
    data = {
        "csrf_token": csrf_token(admin_client, page),
        "email": "jan@example.be",
        "language": "nl",
        "channel": "phone",
        "obtained_on": "gisteren",
        "evidence": "Telefoon met Jan",
    }
    response = admin_client.post(page, data=data)
    assert response.status_code == 400
    assert "Vul een geldige datum in." in error_messages(response)
    assert [href for href, _text in summary_links(response.get_data(as_text=True))] == [
        "#obtained_on"
    ]
