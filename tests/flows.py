"""Journeys the tests share, taken through the forms and the mails as a person would:
subscribing and confirming, asking for one's data, logging in, writing in, recording
a disclosure, capturing consent and importing contacts, running a campaign.

Each step asserts only that it got where it should; what is stored is read with
tests/helpers.py, rows built directly come from tests/builders.py.
"""

from __future__ import annotations

import io
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from consentapp.extensions import db
from consentapp.models import Campaign, OutboundEmail
from consentapp.services import campaign_sending
from consentapp.services import campaigns as service
from tests.builders import ADDRESS, EMAIL, RECIPIENT, STAFF_PASSWORD, VALID, make_campaign
from tests.helpers import CSRF, csrf_token, deliver, link_in, post_form, stored, text_of
from tests.services import SMTPServer


def log_in(client: FlaskClient, email: str, password: str = STAFF_PASSWORD) -> FlaskClient:
    """Log in through the login form."""
    response = post_form(client, "/staff/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return client


def subscribe(
    client: FlaskClient, email: str = ADDRESS, topics: tuple[str, ...] = ("product-updates",)
) -> None:
    """Sign up through the subscribe form; the page thanks whoever asks."""
    response = post_form(
        client, "/subscribe", {"email": email, "name": "Lies", "topics": list(topics)}
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def confirmation_link(app: Flask, smtp_server: SMTPServer, email: str = ADDRESS) -> str:
    """Deliver the outbox and read the link out of the latest Dutch confirmation mail."""
    deliver(app)
    mails = [m for m in smtp_server.to(email) if "bevestig" in str(m["Subject"]).lower()]
    assert mails, [m["Subject"] for m in smtp_server.to(email)]
    return link_in(mails[-1], "/subscribe/confirm/")


def confirm(client: FlaskClient, path: str) -> int:
    """Open the confirmation page and press its button; the status code."""
    return press(client, path)[0]


def welcome_mail(smtp_server: SMTPServer) -> object:
    """The one welcome mail ADDRESS received."""
    [welcome] = [m for m in smtp_server.to(ADDRESS) if "Welkom" in str(m["Subject"])]
    return welcome


def ask(client: FlaskClient, kind: str, email: str = EMAIL) -> int:
    """Ask for one's data (`kind`: access, erasure, ...) on /my-data; the status code."""
    return post_form(client, "/my-data", {"email": email, "kind": kind}).status_code


def verification_path(app: Flask, smtp_server: SMTPServer, email: str = EMAIL) -> str:
    """Deliver the outbox and read the latest /my-data verification link."""
    deliver(app)
    mails = [m for m in smtp_server.to(email) if "/my-data/verify/" in text_of(m)]
    assert mails, [m["Subject"] for m in smtp_server.to(email)]
    return link_in(mails[-1], "/my-data/verify/")


def press(client: FlaskClient, path: str) -> tuple[int, str]:
    """Press the button on a confirmation page; status code and page."""
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    return response.status_code, response.get_data(as_text=True)


def submit_contact_form(app: Flask, client: FlaskClient) -> str:
    """Els writes in through the public contact form; returns her contact's public id."""
    assert post_form(client, "/contact", VALID).status_code == 302
    contact = stored(app, EMAIL)
    assert contact is not None
    return str(contact["public_id"])


def record_disclosure(
    client: FlaskClient, approver_id: int, addresses: list[str], **changes: Any
) -> TestResponse:
    """Post the disclosure form; a change of None leaves the field out.

    `approver_id` goes in an `approved_by` field the form no longer has: the approver
    is the admin who approves, never a name posted with the form.
    """
    data = {
        "kind": "partner",
        "recipient": RECIPIENT,
        "legal_basis": "Installing the new firewall the customer ordered",
        "reference": "Case 2024-017",
        "categories": ["name", "email", "phone"],
        "addresses": "\n".join(addresses),
        "disclosed_on": "2024-05-02",
        "approved_by": str(approver_id),
        **changes,
    }
    return post_form(
        client, "/staff/disclosures/new", {k: v for k, v in data.items() if v is not None}
    )


CAPTURE = {
    "email": "marc@example.be",
    "name": "Marc Peeters",
    "company": "Peeters NV",
    "phone": "0470 12 34 56",
    "language": "nl",
    "channel": "phone",
    "obtained_on": "2024-03-01",
    "evidence": "Call of 1 March 2024, taken by Admin",
    "send_confirmation": "y",
}


def capture(client: FlaskClient, **changes: Any) -> TestResponse:
    """Post the offline-consent form; a change of None leaves the field out."""
    data = {**CAPTURE, **changes}
    return post_form(client, "/staff/consent/new", {k: v for k, v in data.items() if v is not None})


def upload(client: FlaskClient, data: bytes) -> TestResponse:
    """Step 1 of an import: upload a file."""
    token = csrf_token(client, "/staff/contacts/import")
    # Encoded in memory: the test client would spool a large body to an unclosed temp file.
    boundary, body = encode_multipart(
        {"csrf_token": token, "file": FileStorage(io.BytesIO(data), "contacts.csv", "file")}
    )
    return client.post(
        "/staff/contacts/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


MAPPING = {
    "email": "e-mail",
    "name": "naam",
    "company": "",
    "address": "",
    "phone": "",
    "fax": "",
    "language": "",
    "channel_column": "",
    "channel": "email",
    "evidence_column": "",
    "evidence": "Mails in the sales mailbox, 2024",
    "send_confirmation": "y",
}


def import_csv(client: FlaskClient, text: str, **changes: Any) -> TestResponse:
    """Upload `text` and post the mapping form (MAPPING changed by `changes`)."""
    uploaded = upload(client, text.encode("utf-8"))
    assert uploaded.status_code == 302, uploaded.get_data(as_text=True)[:2000]
    location = uploaded.headers["Location"]
    assert re.fullmatch(r"/staff/contacts/import/[A-Za-z0-9_-]{16,64}", location), location
    data = {**MAPPING, **changes, "upload": location.rsplit("/", 1)[1]}
    return post_form(client, location, {k: v for k, v in data.items() if v is not None})


def subscriber(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, email: str, language: str = "nl"
) -> None:
    """A confirmed subscriber of service-news, mailbox emptied afterwards."""
    if language == "en":
        client.get("/?lang=en")
    post_form(
        client, "/subscribe", {"email": email, "topics": "service-news", "language": language}
    )
    confirm(
        client,
        confirmation_link(app, smtp_server, email)
        if language == "nl"
        else confirmation_link_en(app, smtp_server, email),
    )
    deliver(app)


def confirmation_link_en(app: Flask, smtp_server: SMTPServer, email: str) -> str:
    """The confirmation link in the latest (English) mail to the address."""
    deliver(app)
    return link_in(smtp_server.to(email)[-1], "/subscribe/confirm/")


def start(app: Flask, public_id: str, batch: int = 1000) -> None:
    """Schedule a campaign now and queue its recipients, `batch` at a time."""
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        service.schedule(campaign, None, None)
        while campaign_sending.run_due_campaigns(batch=batch):
            pass


def send_campaign(app: Flask) -> str:
    """Write the usual draft, send it now to its topic and deliver it; its public id."""
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app)
    return public_id


def last_newsletter(app: Flask, address: str) -> tuple[int, str]:
    """The outbox id and Message-ID of the last newsletter sent to `address`."""
    with app.app_context():
        row = db.session.scalars(
            sa.select(OutboundEmail)
            .where(OutboundEmail.to_address == address, OutboundEmail.kind == "newsletter")
            .order_by(OutboundEmail.id.desc())
        ).first()
        assert row is not None
        return row.id, row.message_id


REVISION = re.compile(r'name="revision" value="([0-9a-f]+)"')


def ask_to_send(client: FlaskClient, path: str, at: str = "") -> TestResponse:
    """Press "Approve and send" on a campaign page (the form carries the fingerprint of
    the text the page shows); the answer is the confirmation page."""
    page = client.get(path).get_data(as_text=True)
    token, revision = CSRF.search(page), REVISION.search(page)
    assert token and revision, "the send form carries its token and the text's fingerprint"
    data = {"csrf_token": token.group(1), "at": at, "revision": revision.group(1)}
    return client.post(f"{path}/send", data=data)


def staff_send(client: FlaskClient, path: str, at: str = "") -> TestResponse:
    """Press "Approve and send" on a campaign page, then confirm on the page that follows."""
    asked = ask_to_send(client, path, at)
    if asked.status_code != 200:
        return asked
    page = asked.get_data(as_text=True)
    token, revision = CSRF.search(page), REVISION.search(page)
    assert token and revision, "the confirmation carries the fingerprint it confirms"
    data = {"csrf_token": token.group(1), "at": at, "confirmed": "1", "revision": revision.group(1)}
    return client.post(f"{path}/send", data=data)
