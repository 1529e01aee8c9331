"""A campaign's progress in real Chromium: the bar and its sentences change while the
page stays open, and the page reloads itself once the campaign is sent; at each stage
the block fits the screen at 1280 and 390 px and axe-core finds nothing serious. With
CONSENTAPP_SCREENSHOTS set, the block and the page at each stage are saved there."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.models import Campaign, utcnow
from consentapp.services import campaign_sending
from consentapp.services import campaigns as service
from tests.builders import STAFF_PASSWORD, bulk_subscribers, make_campaign
from tests.flows import start
from tests.helpers import deliver
from tests.services import SMTPServer
from tests.test_accessibility import AXE, FAILING_IMPACTS, RUN_AXE

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("CONSENTAPP_SCREENSHOTS")


def log_in(page: Any, live_url: str) -> None:
    page.goto(live_url + "/staff/login")
    page.locator("#email").fill("admin@crm.example")
    page.locator("#password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Aanmelden").click()
    page.get_by_role("heading", name="Overzicht").wait_for()


def bar_value(page: Any) -> Any:
    return page.locator("progress.progress-bar").evaluate("bar => [bar.value, bar.max]")


def test_the_bar_moves_while_the_page_stays_open(
    app: Flask, smtp_server: SMTPServer, audience: None, admin_id: int, live_url: str, page: Any
) -> None:
    bulk_subscribers(app, 8)  # with nl@ and en@: ten readers
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app, limit=2)
    log_in(page, live_url)
    page.goto(f"{live_url}/staff/campaigns/{public_id}")
    assert bar_value(page) == [2, 10]
    page.get_by_text("2 van 10 verstuurd (20\u00a0%)").wait_for()
    page.evaluate("window.stillTheSamePage = true")

    deliver(app, limit=3)  # a sending pass while the page is open
    page.get_by_text("5 van 10 verstuurd (50\u00a0%)").wait_for()
    assert bar_value(page) == [5, 10]
    assert page.locator("[data-progress-text=rate]").inner_text().endswith("per minuut")
    assert page.locator("[data-progress-text=expected]").inner_text().startswith("verwacht rond")
    assert page.evaluate("window.stillTheSamePage") is True, "updated without a reload"

    deliver(app)
    with app.app_context():
        campaign_sending.run_due_campaigns()
    page.get_by_text("Klaar op ").wait_for()  # the status changed: the page reloaded
    assert page.evaluate("window.stillTheSamePage") is None
    assert page.locator(".badge-sent").inner_text() == "verstuurd"
    assert bar_value(page) == [10, 10]
    assert page.locator("script[src*='campaign-progress']").count() == 0


def campaign_at(app: Flask, public_id: str) -> Campaign:
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
    assert campaign is not None
    return campaign


def stages(app: Flask) -> dict[str, str]:
    """One campaign at each stage but the last two (sending becomes sent); their
    public ids by stage."""
    bulk_subscribers(app, 398)  # with nl@ and en@: four hundred readers
    ids = {stage: make_campaign(app) for stage in ("later", "starting", "paused", "sending")}
    started = utcnow() - timedelta(minutes=12)
    with app.app_context():
        service.schedule(campaign_at(app, ids["later"]), utcnow() + timedelta(days=3), None)
    for stage, sent in (("paused", 100), ("sending", 150)):
        with app.app_context():
            service.schedule(campaign_at(app, ids[stage]), started, None)
            while campaign_sending.run_due_campaigns(now=started):
                pass
        assert deliver(app, limit=sent).sent == sent
        if stage == "paused":
            with app.app_context():
                service.pause(campaign_at(app, ids[stage]), None)
    ids["sent"] = ids["sending"]
    return ids


@pytest.mark.parametrize("width", [1280, 390])
def test_the_progress_block_fits_the_screen_at_each_stage(
    app: Flask,
    smtp_server: SMTPServer,
    audience: None,
    admin_id: int,
    live_url: str,
    browser: Any,
    tmp_path: Any,
    width: int,
) -> None:
    shots = SCREENSHOTS or str(tmp_path)
    ids = stages(app)
    # The page's own script runs under its CSP in the test above; here axe-core joins it.
    context = browser.new_context(
        bypass_csp=True, locale="nl-BE", viewport={"width": width, "height": 900}
    )
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(10_000)
    log_in(page, live_url)
    for stage in ("later", "starting", "sending", "paused", "sent"):
        if stage == "starting":
            with app.app_context():
                service.schedule(campaign_at(app, ids[stage]), None, None)
        if stage == "sent":
            while deliver(app).handled:
                pass
            with app.app_context():
                campaign_sending.run_due_campaigns()
        page.goto(f"{live_url}/staff/campaigns/{ids[stage]}")
        block = page.locator(".campaign-progress")
        box = block.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, stage
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{stage}: the page scrolls sideways"
        serious = [v for v in page.evaluate(RUN_AXE) if v["impact"] in FAILING_IMPACTS]
        assert serious == [], f"{stage}: {serious}"
        block.screenshot(path=f"{shots}/campaign-progress-{stage}-{width}.png")
        page.screenshot(path=f"{shots}/campaign-page-{stage}-{width}.png")
    context.close()
