"""Real Chromium (Debian's, driven by Playwright) against the app on a real HTTP server.

The browser, live_url and page fixtures live in tests/browser_fixtures.py.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from consentapp.extensions import db
from consentapp.models import ApiToken, Setting
from consentapp.services.contacts import find_or_create_contact
from consentapp.services.embed import ALTCHA_SETTING
from consentapp.services.topics import active_topics
from consentapp.staff.embed import snippet
from tests.builders import STAFF_PASSWORD
from tests.helpers import deliver, link_in, run_webhooks, subscribed
from tests.services import SMTPServer, WebhookReceiver

pytestmark = pytest.mark.browser


def test_subscribe_confirm_choose_and_unsubscribe_in_a_browser(
    app: Flask, smtp_server: SMTPServer, live_url: str, page: Any
) -> None:
    page.goto(live_url + "/")
    page.get_by_label("Productupdates").check()
    page.locator("#email").fill("browser@example.be")
    page.get_by_role("button", name="Inschrijven").click()
    page.get_by_role("heading", name="Kijk in uw mailbox").wait_for()

    deliver(app)
    [confirm_mail] = smtp_server.to("browser@example.be")
    page.goto(live_url + link_in(confirm_mail, "/subscribe/confirm/"))
    assert subscribed(app, "browser@example.be") == {"product-updates": "pending"}
    page.get_by_role("button", name="Bevestig mijn inschrijving").click()
    page.get_by_role("heading", name="bevestigd").wait_for()
    assert subscribed(app, "browser@example.be") == {"product-updates": "confirmed"}

    deliver(app)
    welcome = smtp_server.to("browser@example.be")[-1]
    page.goto(live_url + link_in(welcome, "/preferences/"))
    page.get_by_label("Bedrijfsnieuws").check()
    page.get_by_role("button", name="Opslaan").click()
    # The lasting footer link travels with forwarded mail: a topic added through it
    # waits for the confirmation mail.
    page.get_by_text("stuurden we een bevestigingsmail").wait_for()
    assert subscribed(app, "browser@example.be") == {
        "product-updates": "confirmed",
        "company-news": "pending",
    }
    deliver(app)
    page.goto(live_url + link_in(smtp_server.to("browser@example.be")[-1], "/subscribe/confirm/"))
    page.get_by_role("button", name="Bevestig mijn inschrijving").click()
    page.get_by_role("heading", name="bevestigd").wait_for()
    assert subscribed(app, "browser@example.be") == {
        "product-updates": "confirmed",
        "company-news": "confirmed",
    }

    page.goto(live_url + link_in(welcome, "/unsubscribe/"))
    page.get_by_role("button", name="Uitschrijven").click()
    page.get_by_role("heading", name="U bent uitgeschreven").wait_for()
    assert set(subscribed(app, "browser@example.be").values()) == {"unsubscribed"}


def test_contact_form_in_a_browser(
    app: Flask, smtp_server: SMTPServer, live_url: str, page: Any
) -> None:
    page.goto(live_url + "/contact")
    page.locator("#name").fill("Jef Browser")
    page.locator("#email").fill("jef@example")
    page.locator("#message").fill("Werkt het formulier in een echte browser?")
    page.get_by_role("button", name="Bericht versturen").click()
    page.locator("#email-errors").get_by_text("Vul een geldig e-mailadres in").wait_for()
    assert page.locator("#message").input_value() == "Werkt het formulier in een echte browser?"
    page.locator("#email").fill("jef@example.be")
    page.get_by_role("button", name="Bericht versturen").click()
    page.get_by_role("heading", name="Bedankt voor uw bericht").wait_for()
    deliver(app)
    assert len(smtp_server.to("jef@example.be")) == 1


SITE_PAGE = """<!doctype html><html lang="nl"><head><meta charset="utf-8">
<title>Het bedrijf</title></head><body><h1>{heading}</h1>{body}</body></html>"""


@pytest.fixture
def company_site(app: Flask, live_url: str) -> Iterator[str]:
    """The company's own website on another origin (another free port): a plain HTML
    page with the snippet the staff page hands out, and one whose script posts JSON."""

    server = make_server("127.0.0.1", 0, lambda environ, start: [b""], threaded=True)
    site = f"http://127.0.0.1:{server.server_port}"
    app.config.update(BASE_URL=live_url, EMBED_ORIGINS=[site])
    altcha = getattr(app, "embed_altcha", False)
    with app.test_request_context():
        form = snippet("nl", active_topics(), altcha=altcha)
    script = (
        "<script>fetch(%r, {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({email: 'script@example.be', topics: ['service-news']})})"
        ".then(r => { document.querySelector('h1').textContent = 'status ' + r.status; });"
        "</script>" % (live_url + "/api/embed/subscribe")
    )
    pages = {
        "/": SITE_PAGE.format(heading="Schrijf u in", body=form),
        "/script": SITE_PAGE.format(heading="bezig", body=script),
    }

    def site_app(environ: dict[str, Any], start: Any) -> list[bytes]:
        body = pages.get(environ["PATH_INFO"], SITE_PAGE.format(heading="Welkom", body=""))
        start("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    server.app = site_app  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()
    thread.join()


def test_a_plain_page_on_another_origin_subscribes_a_visitor(
    app: Flask, smtp_server: SMTPServer, live_url: str, company_site: str, page: Any
) -> None:
    page.goto(company_site + "/")
    page.get_by_label("Productupdates").check()
    page.get_by_label("E-mailadres").fill("site@example.be")
    page.get_by_role("button", name="Inschrijven").click()
    page.wait_for_url(company_site + "/")  # back on the company's site, as the snippet says
    assert subscribed(app, "site@example.be") == {"product-updates": "pending"}

    deliver(app)
    [confirm_mail] = smtp_server.to("site@example.be")
    page.goto(live_url + link_in(confirm_mail, "/subscribe/confirm/"))
    page.get_by_role("button", name="Bevestig mijn inschrijving").click()
    page.get_by_role("heading", name="bevestigd").wait_for()
    assert subscribed(app, "site@example.be") == {"product-updates": "confirmed"}


def test_a_script_on_another_origin_subscribes_through_cors(
    app: Flask, company_site: str, page: Any
) -> None:
    page.goto(company_site + "/script")
    page.get_by_role("heading", name="status 202").wait_for()
    assert subscribed(app, "script@example.be") == {"service-news": "pending"}


@pytest.fixture
def altcha_on(app: Flask) -> Flask:
    """Staff switched the proof of work on."""

    with app.app_context():
        db.session.add(Setting(key=ALTCHA_SETTING, value="1"))
        db.session.commit()
    app.embed_altcha = True  # type: ignore[attr-defined]
    return app


def test_the_altcha_widget_solves_its_challenge_on_another_origin(
    altcha_on: Flask, live_url: str, company_site: str, page: Any
) -> None:
    page.goto(company_site + "/")
    page.get_by_label("Productupdates").check()
    page.get_by_label("E-mailadres").fill("robot-niet@example.be")
    page.locator("altcha-widget input[type=checkbox]").click()
    page.wait_for_function("() => (document.querySelector('input[name=altcha]') || {}).value")
    page.get_by_role("button", name="Inschrijven").click()
    page.wait_for_url(company_site + "/")
    assert subscribed(altcha_on, "robot-niet@example.be") == {"product-updates": "pending"}


def test_the_api_docs_page_shows_every_operation_of_the_document(
    app: Flask, live_url: str, page: Any
) -> None:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    expected = {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }
    page.goto(live_url + "/api/v1/docs")
    page.locator("section.operation").first.wait_for()
    shown = {
        " ".join(heading.split())
        for heading in page.locator("section.operation h3").all_inner_texts()
    }
    assert shown == expected
    # Each request body is a table of its fields, every field linked from its section.
    create = page.locator("section.operation", has_text="POST/api/v1/contacts").first
    assert create.locator("table code", has_text="obtained_on").count() == 1
    schema_link = create.get_by_role("link").first
    schema_link.click()
    assert page.locator(f"#{page.url.split('#')[1]}").is_visible()


def test_an_admin_creates_and_revokes_an_api_token_in_a_browser(
    app: Flask, admin_id: int, live_url: str, page: Any, tmp_path: Any
) -> None:
    shots = os.environ.get("CONSENTAPP_SCREENSHOTS") or str(tmp_path)
    page.goto(live_url + "/staff/login")
    page.locator("#email").fill("admin@crm.example")
    page.locator("#password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    page.get_by_role("button", name="Menu").click()  # 1100 px: the menu is folded
    page.locator(".menu-group summary", has_text="Beheer").click()
    page.get_by_role("link", name="API-tokens").click()
    page.get_by_role("heading", name="API-tokens").wait_for()
    page.get_by_label("Waarvoor het dient").fill("CRM-synchronisatie")
    page.get_by_label("Contacten: lezen").check()
    page.get_by_label("Onderwerpen: lezen").check()
    page.locator("#expires_days").fill("90")
    page.screenshot(path=f"{shots}/api-tokens-form.png", full_page=True)
    page.get_by_role("button", name="Token aanmaken").click()
    page.get_by_role("heading", name="Token aangemaakt").wait_for()
    secret = page.locator("#api-token").inner_text()
    assert secret.startswith("ca_")
    page.screenshot(path=f"{shots}/api-token-created.png", full_page=True)
    page.get_by_role("link", name="Terug naar de tokens").click()
    assert secret not in page.content()
    page.screenshot(path=f"{shots}/api-tokens-list.png", full_page=True)
    page.get_by_role("button", name="Intrekken").click()
    page.get_by_text("Het token is ingetrokken").wait_for()
    with app.app_context():
        token = db.session.scalars(sa.select(ApiToken)).one()
        assert token.revoked_at is not None and token.scope_set == {"contacts:read", "topics:read"}


SCREENSHOTS = os.environ.get("CONSENTAPP_SCREENSHOTS")


def test_admins_manage_a_webhook_endpoint_in_a_browser(
    app: Flask, admin_id: int, live_url: str, page: Any, tmp_path: Any
) -> None:
    """Add an endpoint, read its log, edit it and delete it after the confirmation
    page, in Dutch, with no console error (the pages run no inline script). With
    CONSENTAPP_SCREENSHOTS set, the list, the endpoint and the edit page are saved
    there as PNG files."""

    shots = SCREENSHOTS or str(tmp_path)
    app.config["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = True
    receiver = WebhookReceiver()
    try:
        page.goto(live_url + "/staff/login")
        page.locator("#email").fill("admin@crm.example")
        page.locator("#password").fill(STAFF_PASSWORD)
        page.locator("main form button[type=submit]").click()
        page.goto(live_url + "/staff/webhooks")
        page.locator("#url").fill(receiver.url)
        page.get_by_label("contact.created").check()
        page.get_by_label("subscription.confirmed").check()
        page.get_by_role("button", name="Toevoegen").click()
        assert page.locator(".secret code").inner_text().startswith("whsec_")
        page.screenshot(path=f"{shots}/webhooks-list.png", full_page=True)
        with app.app_context():
            for number in range(3):
                find_or_create_contact(f"person{number}@example.be", "nl", "web_form")
                db.session.commit()
        run_webhooks(app)
        receiver.status = 500
        with app.app_context():
            find_or_create_contact("failing@example.be", "nl", "web_form")
            db.session.commit()
        run_webhooks(app)
        page.get_by_role("link", name=receiver.url).click()
        page.get_by_role("button", name="Een testgebeurtenis sturen").click()
        page.get_by_text("Er staat een testgebeurtenis klaar").wait_for()
        assert page.locator("tbody tr").count() == 5
        page.screenshot(path=f"{shots}/webhook-endpoint.png", full_page=True)
        page.locator("#status").select_option("failed")
        page.get_by_role("button", name="Filteren").click()
        assert page.locator("tbody tr").count() == 1
        page.get_by_role("link", name="Bewerken").click()
        page.get_by_label("E-mailadres en naam meesturen").wait_for()
        page.screenshot(path=f"{shots}/webhook-edit.png", full_page=True)
        page.get_by_label("contact.erased").check()
        page.get_by_role("button", name="Opslaan").click()
        page.get_by_text("Het eindpunt is bewaard").wait_for()
        page.get_by_role("link", name="Verwijderen").click()
        page.get_by_role("button", name="Het eindpunt verwijderen").click()
        page.get_by_text("Het eindpunt is verwijderd").wait_for()
        assert receiver.url not in page.content()
    finally:
        receiver.stop()


# The staff menu --------------------------------------------------------------------------


def staff_menu_page(browser: Any, live_url: str, width: int, script: bool = True) -> Any:
    context = browser.new_context(
        locale="nl-BE", viewport={"width": width, "height": 800}, java_script_enabled=script
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(live_url + "/staff/login")
    page.locator("#email").fill("admin@crm.example")
    page.locator("#password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    page.get_by_role("heading", name="Overzicht").wait_for()
    page.goto(live_url + "/staff/inquiries")
    return page


def middle(page: Any, selector: str) -> float:
    box = page.locator(selector).first.bounding_box()
    return float(box["y"] + box["height"] / 2)


def test_on_a_desktop_the_header_is_one_row_and_groups_open_and_close(
    admin_id: int,
    browser: Any,
    live_url: str,
) -> None:
    page = staff_menu_page(browser, live_url, 1280)
    header = page.locator(".staff-header").bounding_box()
    assert header["height"] < 90, header
    parts = (".brand", ".menu-top", ".menu-group summary", ".staff-user a", ".lang-switch")
    middles = [middle(page, part) for part in parts]
    assert max(middles) - min(middles) < 12, middles  # one row
    assert not page.locator(".menu-button").is_visible()
    items = page.get_by_role("link", name="API-tokens")
    assert not items.is_visible()
    admin = page.locator(".menu-group summary", has_text="Beheer")
    admin.focus()
    page.keyboard.press("Enter")
    assert items.is_visible()
    contacts = page.locator(".menu-group summary", has_text="Contacten")
    contacts.click()
    assert not items.is_visible(), "opening one group closes the other"
    page.keyboard.press("Escape")
    assert not page.get_by_role("link", name="Alle contacten").is_visible()
    assert page.evaluate("document.activeElement.textContent").startswith("Contacten")
    page.context.close()


def test_on_a_phone_the_menu_folds_behind_a_button(
    admin_id: int,
    browser: Any,
    live_url: str,
) -> None:
    page = staff_menu_page(browser, live_url, 390)
    button = page.get_by_role("button", name="Menu")
    assert button.get_attribute("aria-expanded") == "false"
    assert not page.locator(".staff-menu").is_visible()
    assert not page.get_by_role("link", name="Afmelden").is_visible()
    header = page.locator(".staff-header").bounding_box()
    assert header["height"] < 80, header
    button.focus()
    page.keyboard.press("Enter")
    assert button.get_attribute("aria-expanded") == "true"
    page.locator(".menu-group summary", has_text="Privacy en rechten").click()
    page.get_by_role("link", name="Verzoeken").click()
    page.get_by_role("heading", name="Verzoeken van betrokkenen").wait_for()
    assert not page.locator(".staff-menu").is_visible(), "a new page starts folded"
    page.context.close()


def test_without_script_the_phone_menu_stays_usable(
    admin_id: int,
    browser: Any,
    live_url: str,
) -> None:
    page = staff_menu_page(browser, live_url, 390, script=False)
    assert not page.locator(".menu-button").is_visible()
    assert page.locator(".staff-menu").is_visible()
    page.locator(".menu-group summary", has_text="Contacten").click()
    page.get_by_role("link", name="Alle contacten").click()
    page.get_by_role("heading", name="Contacten").wait_for()
    page.context.close()
