"""Every staff page, in Dutch, says things in words: no stored code shows as text."""

from __future__ import annotations

import enum
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp import labels, models
from consentapp.extensions import db
from consentapp.mail.reports import BounceKind, FailedRecipient, Report
from consentapp.models import ApiScope
from consentapp.seed import TOPICS
from consentapp.services import bounces
from consentapp.services.contacts import find_contact, find_or_create_contact
from consentapp.services.outgoing_webhooks import add_endpoint
from consentapp.services.register import seed_register
from consentapp.services.rights import carry_out, mark_verified
from tests.builders import ADDRESS, make_campaign
from tests.flows import (
    ask,
    capture,
    confirm,
    confirmation_link,
    record_disclosure,
    submit_contact_form,
    subscribe,
    verification_path,
)
from tests.helpers import token_for
from tests.services import SMTPServer

# Codes that are also ordinary Dutch words, so a text equal to them proves nothing.
DUTCH_WORDS = {"contact", "partner", "import", "hard", "open", "letter", "status", "kind", "fax"}
# Words that no translated page says: what was stored before it was put into words.
STORED_SENTENCES = {
    "export provided",
    "erased",
    "identity never confirmed",
    "no data held about this address",
    "link sent to the address on file",
    "all newsletters stopped; address suppressed for direct marketing",
}


def known_codes() -> set[str]:
    """Every code a staff member could be shown: labels, actions, fields, enum values,
    topic slugs, failed-login reasons and the detail keys written with an underscore."""
    codes = set(labels.LABELS) | set(labels.ACTIONS) | set(labels.FIELDS)
    codes |= set(labels.REASONS) | {key for key in labels.DETAILS if "_" in key}
    codes |= {"reason", "outcome", "fields", "channel", "evidence", "recipient", "subjects"}
    codes |= {"withheld", "source"}
    codes |= {str(spec["slug"]) for spec in TOPICS}
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, enum.StrEnum):
            codes |= {member.value for member in value}
    return codes - DUTCH_WORDS


class Visible(HTMLParser):
    """The text nodes a reader sees, outside `<code>`, scripts and styles, and outside
    what is shown as written: `<pre>` (the privacy notice's source) and `<textarea>`."""

    SKIP = {"code", "pre", "script", "style", "textarea", "title"}

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.hidden += 1
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.texts.append(" ".join(data.split()))


ADDRESS_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PATH_RE = re.compile(r"(?:https?:/)?/[\w/.-]+")
TOKEN_RE = re.compile(r"[a-z0-9]+(?:[-._:][a-z0-9]+)+")
PIECES_RE = re.compile(r"[·,:;()|/—]")


def raw_codes(text: str, codes: set[str]) -> set[str]:
    """The codes a text node shows as they are stored."""
    text = PATH_RE.sub(" ", ADDRESS_RE.sub(" ", text))
    found = {token for token in TOKEN_RE.findall(text) if token in codes}
    pieces = {text.strip(), *(piece.strip() for piece in PIECES_RE.split(text))}
    found |= {piece for piece in pieces if piece in codes}
    if text.strip() in STORED_SENTENCES or text.split(";")[0].strip() in STORED_SENTENCES:
        found.add(text.strip())
    return found


def test_raw_codes_finds_codes_and_leaves_words_alone() -> None:
    codes = {"created_at", "inquiries.list", "nl", "staff", "product-updates"}
    assert raw_codes("Taal: nl", codes) == {"nl"}
    assert raw_codes("staff: checked in person", codes) == {"staff"}
    assert raw_codes("velden created_at, e-mailadres", codes) == {"created_at"}
    assert raw_codes("inquiries.list", codes) == {"inquiries.list"}
    assert raw_codes("Onderwerp product-updates", codes) == {"product-updates"}
    assert raw_codes("erased; held for accounting until 2031-12-31", codes)
    assert raw_codes("staff@example.be · Nederlands", codes) == set()
    assert raw_codes("Medewerkers", codes) == set()


def bounce(app: Flask, address: str) -> None:
    report = Report(
        format="dsn",
        recipients=(FailedRecipient(address, BounceKind.HARD, "5.1.1", "550 unknown user"),),
        report_id="dsn-words@mx.example.be",
        original_message_id=None,
        return_paths=(),
        feedback_type=None,
    )
    with app.app_context():
        bounces.apply_report(report, "generic", (), bounces.Outcome())
        db.session.commit()


def carry_out_requests(app: Flask, admin_id: int) -> None:
    """Staff check the identity of every open request and carry out all but one."""
    with app.app_context():
        admin = db.session.get(models.StaffUser, admin_id)
        found = db.session.scalars(sa.select(models.DataRequest).order_by(models.DataRequest.id))
        for request in list(found):
            if request.status not in (
                models.RequestStatus.UNVERIFIED,
                models.RequestStatus.VERIFIED,
            ):
                continue  # carried out already through the mailed identity link
            if request.status == models.RequestStatus.UNVERIFIED and request.email:
                mark_verified(request, "staff: ID card shown at the desk", admin)
            contact = find_contact(request.email or "")
            if request.kind != models.RequestKind.RECTIFICATION and contact is not None:
                carry_out(request, contact, admin)
        db.session.commit()


def busy_company(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    smtp_server: SMTPServer,
    admin_id: int,
) -> None:
    """Data of every kind, made the way people make it."""
    submit_contact_form(app, client)
    subscribe(client, ADDRESS, ("product-updates", "service-news"))
    confirm(client, confirmation_link(app, smtp_server))
    assert capture(admin_client).status_code == 302
    with app.app_context():
        find_or_create_contact("weg@example.be", "nl", "web_form")
        db.session.commit()
    assert record_disclosure(admin_client, admin_id, [ADDRESS]).status_code == 302
    for kind, email in (
        ("access", ADDRESS),
        ("objection", "marc@example.be"),
        ("erasure", "weg@example.be"),
        ("rectification", ADDRESS),
    ):
        assert ask(client, kind, email) == 200
    confirm(client, verification_path(app, smtp_server, ADDRESS))
    carry_out_requests(app, admin_id)
    make_campaign(app)
    bounce(app, ADDRESS)
    token_for(app, ApiScope.CONTACTS_READ)
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    with app.app_context():
        add_endpoint("http://127.0.0.1:9/hook", ("contact.created",))
        seed_register()
        db.session.commit()


def walk(client: FlaskClient, start: list[str], limit: int = 120) -> dict[str, str]:
    """GET every staff page reachable from `start`, one per path (the first query seen)."""
    pages: dict[str, str] = {}
    queue = list(start)
    seen_paths: set[str] = set()
    while queue and len(pages) < limit:
        url = queue.pop(0)
        parts = urlsplit(url)
        if not parts.path.startswith("/staff") or parts.path in seen_paths:
            continue
        if parts.path.endswith((".csv", ".json", "/logout")) or "download" in parts.path:
            continue
        seen_paths.add(parts.path)
        response = client.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        text = response.get_data(as_text=True)
        pages[url] = text
        parser = Visible()
        parser.feed(text)
        queue.extend(urljoin(url, link) for link in parser.links)
    return pages


@pytest.mark.usefixtures("admin_id")
def test_every_staff_page_in_dutch_shows_words_not_codes(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    smtp_server: SMTPServer,
    admin_id: int,
) -> None:
    busy_company(app, client, admin_client, smtp_server, admin_id)
    admin_client.get("/staff/contacts?lang=nl")
    pages = walk(admin_client, ["/staff/", "/staff/audit?verify=1", "/staff/requests?all=1"])
    assert {"/staff/audit?verify=1", "/staff/contacts/export", "/staff/register"} <= set(pages)
    assert any(url.startswith("/staff/requests/") for url in pages)
    assert any(url.startswith("/staff/inquiries/") for url in pages)
    assert any(url.startswith("/staff/contacts/") and len(url) > 30 for url in pages)
    codes = known_codes()
    found: dict[str, set[str]] = {}
    for url, text in pages.items():
        assert '<html lang="nl">' in text, url
        parser = Visible()
        parser.feed(text)
        shown = set().union(*(raw_codes(node, codes) for node in parser.texts))
        if shown:
            found[url] = shown
    assert found == {}, "\n".join(f"{url}: {sorted(codes)}" for url, codes in found.items())
