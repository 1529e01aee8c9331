"""In Chromium: after a failed submit focus is on the error summary, and each of its
links moves focus to its field (staff and public forms share the summary)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

pytestmark = pytest.mark.browser


def focused_id(tab: Any) -> str:
    return str(tab.evaluate("document.activeElement && document.activeElement.id"))


def expect(locator: Any) -> Any:
    """Playwright's waiting assertions (imported here: Playwright is optional)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_a_failed_submit_focuses_the_summary_whose_link_focuses_the_field(
    app: Flask, live_url: str, page: Any
) -> None:
    page.goto(live_url + "/contact")
    page.locator("#name").fill("Jef Browser")
    page.locator("#email").fill("jef@example.be")
    page.get_by_role("button", name="Bericht versturen").click()
    summary = page.locator("[data-error-summary]")
    summary.wait_for()
    expect(summary).to_be_focused()
    assert page.locator("#name").input_value() == "Jef Browser", "the input is kept"
    link = summary.get_by_role("link", name="Uw bericht: Schrijf uw bericht.")
    link.click()
    expect(page.locator("#message")).to_be_focused()
    assert focused_id(page) == "message"
    page.keyboard.type("Nu met een vraag.")
    assert page.locator("#message").input_value() == "Nu met een vraag."
