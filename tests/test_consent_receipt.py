"""The consent receipt: in the welcome mail, as a page to print and as JSON, from the ledger."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.dates import get_timezone_name
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import ConsentAction, ConsentEvent, PrivacyNotice
from consentapp.services import notices
from consentapp.services.contacts import find_contact
from consentapp.services.erasure import erase_person
from tests.builders import ADDRESS
from tests.flows import confirm, confirmation_link, confirmation_link_en, subscribe, welcome_mail
from tests.helpers import deliver, html_of, link_in, post_form, text_of, visible_text
from tests.services import SMTPServer

TOPICS = ("product-updates", "service-news")
ENGLISH = "reader@example.be"  # subscribes in English


def confirmed_row(app: Flask, email: str = ADDRESS) -> ConsentEvent:
    """The ledger row that confirmed the first topic, detached for reading."""
    with app.app_context():
        contact = find_contact(email)
        assert contact is not None
        row = db.session.scalars(
            sa.select(ConsentEvent)
            .where(
                ConsentEvent.subject_id == contact.public_id,
                ConsentEvent.action == ConsentAction.CONFIRMED,
            )
            .order_by(ConsentEvent.id)
        ).first()
        assert row is not None
        db.session.expunge(row)
        return row


def utc_text(moment: datetime) -> str:
    """A ledger time as the receipt prints it in UTC."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") + " UTC"


@pytest.fixture
def footer_path(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> str:
    """Lies confirmed two topics; the lasting preferences link from her welcome mail."""
    subscribe(client, topics=TOPICS)
    assert confirm(client, confirmation_link(app, smtp_server)) == 200
    deliver(app)
    return link_in(welcome_mail(smtp_server), "/preferences/")  # type: ignore[arg-type]


def receipt_json(client: FlaskClient, footer_path: str) -> dict[str, Any]:
    """The JSON download, checked for its headers."""
    response = client.get(f"{footer_path}/receipt.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    data: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return data


@pytest.mark.parametrize("part", [text_of, html_of])
def test_welcome_mail_states_topics_time_notice_and_fingerprint(
    app: Flask, smtp_server: SMTPServer, footer_path: str, part: Any
) -> None:
    row = confirmed_row(app)
    body = part(welcome_mail(smtp_server))
    assert "Productupdates" in body and "Nieuws over onze diensten" in body
    assert utc_text(row.occurred_at) in body
    assert "versie 1" in body
    assert row.notice_sha256 and row.notice_sha256 in body
    assert f"/privacy/{row.notice_version}?lang=nl" in body
    assert "bevestigd met de link" in body  # how: the double opt-in
    assert app.config["ORG_ADDRESS"] in body and app.config["ORG_EMAIL"] in body


def test_welcome_mail_in_english_carries_the_receipt(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    client.get("/?lang=en")
    post_form(client, "/subscribe", {"email": ADDRESS, "topics": "service-news", "language": "en"})
    assert confirm(client, confirmation_link_en(app, smtp_server, ADDRESS)) == 200
    deliver(app)
    [welcome] = [m for m in smtp_server.to(ADDRESS) if "Welcome" in str(m["Subject"])]
    row = confirmed_row(app)
    for body in (text_of(welcome), html_of(welcome)):
        assert "Your consent receipt" in body or "YOUR CONSENT RECEIPT" in body
        assert "Service news" in body and "version 1" in body
        assert utc_text(row.occurred_at) in body
        assert f"/privacy/1?lang={row.notice_language}" in body


def test_receipt_times_name_their_zone_in_words(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str
) -> None:
    """Babel's long format would print an English reader "+0100"; the receipt writes the
    zone out, in the mail and on the page, in both languages."""
    row = confirmed_row(app)
    given = row.occurred_at.replace(tzinfo=row.occurred_at.tzinfo or UTC)
    zone = ZoneInfo(app.config["TIMEZONE"])
    named = {
        language: get_timezone_name(given.astimezone(zone), "long", locale=language)
        for language in ("nl", "en")
    }
    assert named["en"].startswith("Central European")  # Europe/Brussels, the default
    dutch = visible_text(client.get(f"{footer_path}/receipt").get_data(as_text=True))
    english = visible_text(client.get(f"{footer_path}/receipt?lang=en").get_data(as_text=True))
    reader = app.test_client()
    reader.get("/?lang=en")
    form = {"email": ENGLISH, "topics": "service-news", "language": "en"}
    post_form(reader, "/subscribe", form)
    assert confirm(reader, confirmation_link_en(app, smtp_server, ENGLISH)) == 200
    deliver(app)
    [welcome] = [m for m in smtp_server.to(ENGLISH) if "Welcome" in str(m["Subject"])]
    for language, shown in (
        ("nl", dutch),
        ("nl", text_of(welcome_mail(smtp_server))),
        ("en", english),
        ("en", text_of(welcome)),
        ("en", visible_text(html_of(welcome))),
    ):
        assert named[language] in shown
        assert not re.search(r"\d [+-]\d{4}\b", shown)


def test_notice_link_keeps_showing_that_version_after_a_newer_one(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str
) -> None:
    row = confirmed_row(app)
    with app.app_context():
        shown = db.session.get(PrivacyNotice, row.notice_id)
        assert shown is not None
        first_line = shown.text.splitlines()[2]
        notices.publish_notice({"nl": ("Privacy v2", "# Privacy v2\n\nEen heel andere tekst.\n")})
        db.session.commit()
    link = re.sub(
        r"^https?://[^/]+",
        "",
        re.findall(r"https?://\S+/privacy/1\S*", text_of(welcome_mail(smtp_server)))[0],
    )
    page = client.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert row.notice_sha256 and row.notice_sha256 in html
    assert first_line.strip("# ")[:40] in visible_text(html)
    assert "Een heel andere tekst" not in html


def test_preferences_page_links_to_both_downloads(client: FlaskClient, footer_path: str) -> None:
    html = client.get(footer_path).get_data(as_text=True)
    assert f'href="{footer_path}/receipt"' in html
    assert f'href="{footer_path}/receipt.json"' in html


def test_json_receipt_has_stable_keys_and_iso_times(
    app: Flask, client: FlaskClient, footer_path: str
) -> None:
    data = receipt_json(client, footer_path)
    assert data["schema_version"] == 1 and data["kind"] == "consent_receipt"
    assert set(data) >= {"issued_at", "language", "email", "controller", "consents", "withdrawn"}
    assert data["controller"]["name"] == app.config["ORG_NAME"]
    assert set(data["how_to_withdraw"]) >= {"preferences_url", "unsubscribe_url", "email"}
    newsletters = [item for item in data["consents"] if item["purpose"] == "newsletter"]
    assert sorted(item["topic"] for item in newsletters) == sorted(TOPICS)
    row = confirmed_row(app)
    for item in newsletters:
        given = item["given_at"]
        assert datetime.fromisoformat(given["utc"]).utcoffset().total_seconds() == 0
        assert datetime.fromisoformat(given["local"]) == datetime.fromisoformat(given["utc"])
        assert given["time_zone"] == "Europe/Brussels"
        assert item["how"] == "double_opt_in" and item["withdrawn_at"] is None
        assert item["notice"]["version"] == row.notice_version
        assert item["notice"]["sha256"] == row.notice_sha256
        assert item["notice"]["url"].endswith(f"/privacy/{row.notice_version}?lang=nl")


def test_json_and_printable_receipt_say_the_same(client: FlaskClient, footer_path: str) -> None:
    data = receipt_json(client, footer_path)
    page = client.get(f"{footer_path}/receipt")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert data["consents"]
    for item in data["consents"]:
        if item["label"]:
            assert item["label"] in html
        assert f'<time datetime="{item["given_at"]["utc"]}">' in html
        assert f">versie {item['notice']['version']}</a>" in html
        assert item["notice"]["sha256"] in html
    assert html.count('<div class="receipt-item">') == len(data["consents"])


@pytest.mark.parametrize("suffix", ["/receipt", "/receipt.json"])
def test_tampered_link_opens_no_receipt(client: FlaskClient, footer_path: str, suffix: str) -> None:
    tampered = footer_path[:-3] + ("aaa" if not footer_path.endswith("aaa") else "bbb")
    response = client.get(f"{tampered}{suffix}")
    assert 400 <= response.status_code < 500
    assert response.headers["Cache-Control"] == "no-store"
    assert ADDRESS not in response.get_data(as_text=True)
    assert "Productupdates" not in response.get_data(as_text=True)


@pytest.mark.parametrize("suffix", ["/receipt", "/receipt.json"])
def test_erased_person_gets_only_a_4xx(
    app: Flask, client: FlaskClient, footer_path: str, suffix: str
) -> None:
    assert client.get(f"{footer_path}{suffix}").status_code == 200
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        erase_person(contact)
        db.session.commit()
    response = client.get(f"{footer_path}{suffix}")
    assert 400 <= response.status_code < 500
    assert "Productupdates" not in response.get_data(as_text=True)


def test_withdrawn_topic_moves_from_agreed_to_withdrawn_with_its_time(
    client: FlaskClient, footer_path: str
) -> None:
    saved = post_form(client, footer_path, {"topics": ["service-news"], "language": "nl"})
    assert saved.status_code == 302
    data = receipt_json(client, footer_path)
    agreed = [item["topic"] for item in data["consents"] if item["purpose"] == "newsletter"]
    assert agreed == ["service-news"]
    [gone] = data["withdrawn"]
    assert gone["topic"] == "product-updates"
    assert datetime.fromisoformat(gone["withdrawn_at"]["utc"]) >= datetime.fromisoformat(
        gone["given_at"]["utc"]
    )
    html = client.get(f"{footer_path}/receipt").get_data(as_text=True)
    agreed_part, _, withdrawn_part = html.partition('id="withdrawn"')
    assert "Productupdates" not in agreed_part
    assert "Productupdates" in withdrawn_part


def test_footer_link_receipt_masks_the_address(client: FlaskClient, footer_path: str) -> None:
    data = receipt_json(client, footer_path)
    assert data["email"] != ADDRESS and data["email"].endswith("@example.be")
    assert ADDRESS not in client.get(f"{footer_path}/receipt").get_data(as_text=True)
