"""Asking subscribers again, in real Chromium: an admin starts a round through the
form and its confirmation, the subscriber opens the mail's button and says yes, the
round's page counts the answer; axe-core finds nothing serious on any page, at 1280
and 390 px. With CONSENTAPP_SCREENSHOTS set, each page and the mail are saved there."""

from __future__ import annotations

import os
from typing import Any

import pytest
from flask import Flask

from consentapp.services.repermission_mail import run_due_repermissions
from tests.builders import confirmed_long_ago
from tests.flows import subscriber
from tests.helpers import deliver, html_of, link_in, text_of
from tests.services import SMTPServer
from tests.test_accessibility import AXE, FAILING_IMPACTS, RUN_AXE
from tests.test_browser_campaign_progress import log_in

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("CONSENTAPP_SCREENSHOTS")
OLD = "old@example.be"


def check(page: Any, name: str) -> None:
    """No serious axe finding and no sideways scrolling at either width."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        found = [v for v in page.evaluate(RUN_AXE) if v["impact"] in FAILING_IMPACTS]
        assert found == [], (name, found)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/repermission-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1100, "height": 900})


def test_an_admin_asks_again_and_a_subscriber_says_yes(
    app: Flask, smtp_server: SMTPServer, admin_id: int, live_url: str, page: Any
) -> None:
    subscriber(app, app.test_client(), smtp_server, OLD)
    confirmed_long_ago(app, OLD)
    smtp_server.handler.clear()
    page.context.add_init_script(path=str(AXE))
    log_in(page, live_url)
    page.goto(f"{live_url}/staff/repermission")
    page.get_by_label("Abonnees die meer dan een aantal maanden geleden bevestigden").check()
    page.get_by_label("Meer dan zoveel maanden geleden bevestigd").fill("24")
    check(page, "form")
    page.get_by_role("button", name="Bekijk wie gevraagd zou worden").click()
    page.get_by_text("De vraag gaat naar 1 persoon").wait_for()
    check(page, "confirm")
    page.get_by_role("button", name="Ja, vraag het 1 persoon").click()
    page.get_by_text("De mails zijn onderweg").wait_for()
    with app.app_context():
        run_due_repermissions()
    deliver(app)
    [mail] = [m for m in smtp_server.to(OLD) if "/still-wanted/" in text_of(m)]
    if SCREENSHOTS:  # in a tab of its own: the mail's inline styles are not the site's
        tab = page.context.new_page()
        tab.set_content(html_of(mail))
        tab.screenshot(path=f"{SCREENSHOTS}/repermission-mail.png", full_page=True)
        tab.close()
    page.goto(live_url + link_in(mail, "/still-wanted/"))
    check(page, "question")
    page.get_by_role("button", name="Ja, stuur mij verder Nieuws over onze diensten").click()
    page.get_by_role(
        "heading", name="Bedankt: u blijft Nieuws over onze diensten ontvangen"
    ).wait_for()
    check(page, "answered")
    page.goto(f"{live_url}/staff/repermission")
    page.locator("table a").first.click()
    facts = page.locator("dl.facts").nth(1).inner_text()
    assert "Wil het nog\n1" in facts and "Nog geen antwoord\n0" in facts, facts
    check(page, "round")
