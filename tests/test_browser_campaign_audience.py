"""Choosing a campaign's audience in real Chromium: two newsletters and a language
ticked on the form, the size of that audience on the draft before anything is sent,
the form back as it was saved; axe-core finds nothing serious at 1280 and 390 px.
With CONSENTAPP_SCREENSHOTS set, the form and the draft are saved there."""

from __future__ import annotations

import os
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.services import SMTPServer
from tests.test_accessibility import AXE, FAILING_IMPACTS, RUN_AXE
from tests.test_browser_campaign_progress import log_in
from tests.test_campaign_audiences import readers

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("CONSENTAPP_SCREENSHOTS")


def serious(page: Any) -> list[Any]:
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in FAILING_IMPACTS]


def test_staff_tick_two_newsletters_and_a_language_and_see_who_it_reaches(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    admin_id: int,
    live_url: str,
    page: Any,
) -> None:
    readers(app, client, smtp_server)
    page.context.add_init_script(path=str(AXE))
    log_in(page, live_url)
    page.goto(f"{live_url}/staff/campaigns/new")
    page.get_by_label("Nieuwsbrief", exact=True).select_option("service-news")
    audience = page.get_by_role("group", name="Ook naar de abonnees van")
    audience.get_by_label("Productupdates").check()
    page.get_by_label("Taal van de abonnees").select_option("nl")
    page.get_by_label("Onderwerp (Nederlands)").fill("Nieuws in december")
    page.get_by_label("Tekst (Nederlands, Markdown)").fill("Wat er **nieuw** is.")
    assert serious(page) == []
    if SCREENSHOTS:
        page.locator("form.stack").screenshot(path=f"{SCREENSHOTS}/campaign-audience-form.png")
    page.get_by_role("button", name="Bewaren en voorbeeld tonen").click()
    block = page.locator("section.audience")
    block.get_by_text("Nieuwsbrieven: Nieuws over onze diensten en Productupdates").wait_for()
    assert "Gaat naar 2 abonnees" in block.inner_text(), "both@ and news@ read Dutch"
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert serious(page) == []
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"no sideways scrolling at {width} px"
        if SCREENSHOTS:
            page.screenshot(path=f"{SCREENSHOTS}/campaign-audience-draft-{width}.png")
    page.get_by_role("link", name="Wijzigen").click()
    group = page.get_by_role("group", name="Ook naar de abonnees van")
    assert group.get_by_label("Productupdates").is_checked()
    assert not group.get_by_label("Nieuws over onze diensten").is_checked()
    assert page.get_by_label("Taal van de abonnees").input_value() == "nl"
