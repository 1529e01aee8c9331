"""WCAG 2.2 AA in real Chromium: axe-core scans every page, keyboard focus stays visible.

Every GET page of the URL map is scanned (the detail pages on objects made here), in
Dutch and English, at 1280 px and 390 px, with axe-core loaded from the copy in
tests/vendor/axe-core/ (the scanning context bypasses the CSP to inject it). A serious or
critical finding fails the test with its rule, page and selectors. A GET endpoint that
is neither scanned nor excluded below, with its reason, fails the test too, so a new
page cannot slip past.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask, url_for

from consentapp.extensions import db
from consentapp.links import web_version_url
from consentapp.models import (
    Campaign,
    DataRequest,
    Inquiry,
    ProcessingActivity,
    Repermission,
    StaffUser,
    WebhookEndpoint,
)
from consentapp.services.archive import set_in_archive
from consentapp.services.campaign_sending import run_due_campaigns
from consentapp.services.campaigns import schedule
from consentapp.services.contacts import find_contact
from consentapp.services.outgoing_webhooks import add_endpoint
from consentapp.services.preferences import request_email_change
from tests.builders import (
    ADDRESS,
    EMAIL,
    NEW_ADDRESS,
    STAFF_PASSWORD,
    confirmed_long_ago,
    make_campaign,
    make_round,
    make_staff,
)
from tests.flows import (
    ask,
    confirm,
    confirmation_link,
    log_in,
    record_disclosure,
    submit_contact_form,
    subscribe,
    upload,
    verification_path,
)
from tests.helpers import deliver, link_in, text_of, token_for
from tests.services import SMTPServer

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WIDTHS = (1280, 390)
LANGUAGES = ("nl", "en")
FAILING_IMPACTS = {"serious", "critical"}

# GET endpoints that are not pages a person reads, each with its reason.
EXCLUDED = {
    "static": "the stylesheet and scripts themselves, checked through the pages using them",
    "public.healthz": "a JSON health check for the load balancer",
    "embed.altcha_challenge": "a JSON challenge for the proof-of-work widget",
    "rights.export": "a file download (JSON or CSV), not a page",
    "subscriptions.receipt_download": "the consent receipt as a JSON download, not a page",
    "staff.disclosures_csv": "a CSV download",
    "staff.register_export": "a CSV or JSON download",
    "staff.campaign_progress": "JSON, not a page",
    "staff.campaign_clicks_csv": "a CSV download",
    "public.follow_link": "a redirect to a newsletter's link, not a page",
    "public.open_pixel": "an image of one pixel",
    "api.list_campaigns": "JSON API",
    "api.read_campaign": "JSON API",
    "api.list_contacts": "JSON API",
    "api.read_contact": "JSON API",
    "api.read_ledger": "JSON API",
    "api.list_data_requests": "JSON API",
    "api.read_data_request": "JSON API",
    "api.openapi_document": "the OpenAPI document (JSON); its page is api.docs_page",
    "api.openapi_spec": "the OpenAPI document (JSON); its page is api.docs_page",
    "api.check_suppression": "JSON API",
    "api.list_topics": "JSON API",
    "public.archive_feed": "an Atom feed (XML), not a page",
}

# Findings inside pages that are being reworked, as (rule id, endpoint): printed (run
# with -s to see them, and the entries no longer found) but not failing. Empty this
# list as those pages are fixed; nothing global belongs here.
KNOWN: set[tuple[str, str]] = set()

# The WCAG 2.0-2.2 A and AA rules, and axe's best practices.
RUN_AXE = """async () => {
  const result = await axe.run(document, {
    resultTypes: ["violations"],
    runOnly: {type: "tag", values: [
      "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]},
  });
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map(n => n.target.join(" ")),
  }));
}"""


def path_in(mail: Any, prefix: str) -> str:
    return link_in(mail, prefix)


def make_objects(app: Flask, smtp_server: SMTPServer, admin_id: int) -> dict[str, str]:
    """Everything a detail page needs: a subscriber (confirmed, with a pending address
    change), a pending subscription, an inquiry, a data request, a campaign, a webhook,
    an API token, a disclosure and an uploaded import file. Returns the token paths."""
    client = app.test_client()
    subscribe(client)
    assert confirm(client, confirmation_link(app, smtp_server)) == 200
    deliver(app)
    [welcome] = [m for m in smtp_server.to(ADDRESS) if "/unsubscribe/" in text_of(m)]
    subscribe(app.test_client(), "pending@example.be")
    paths = {
        "subscriptions.confirm": confirmation_link(app, smtp_server, "pending@example.be"),
        "subscriptions.preferences": path_in(welcome, "/preferences/"),
        "subscriptions.receipt": path_in(welcome, "/preferences/") + "/receipt",
        "subscriptions.unsubscribe": path_in(welcome, "/unsubscribe/"),
    }
    with app.test_request_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        request_email_change(contact, NEW_ADDRESS, "nl")
        db.session.commit()
    deliver(app)
    [change] = [m for m in smtp_server.to(NEW_ADDRESS) if "/preferences/email/" in text_of(m)]
    paths["subscriptions.verify_email"] = path_in(change, "/preferences/email/")
    submit_contact_form(app, app.test_client())
    assert ask(app.test_client(), "access") == 200
    paths["rights.verify"] = verification_path(app, smtp_server)
    make_campaign(app)
    published = make_campaign(app)
    with app.test_request_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == published))
        assert campaign is not None
        set_in_archive(campaign, True, None)
        schedule(campaign, None, None)
        run_due_campaigns()
        contact = find_contact(ADDRESS)
        assert contact is not None
        web_version = web_version_url(contact, published)
    paths["subscriptions.web_version"] = web_version.removeprefix("http://localhost")
    deliver(app)
    with app.app_context():
        run_due_campaigns()
    confirmed_long_ago(app, ADDRESS)
    make_round(app)
    deliver(app)
    [question] = [m for m in smtp_server.to(ADDRESS) if "/still-wanted/" in text_of(m)]
    paths["subscriptions.still_wanted"] = path_in(question, "/still-wanted/")
    token_for(app)
    with app.app_context():
        add_endpoint("https://hooks.example.com/crm", ["contact.created"])
    with app.app_context():
        account = db.session.get(StaffUser, make_staff(app, "totp@crm.example", "staff"))
        assert account is not None
        account.totp_secret = pyotp.random_base32()
        db.session.commit()
    admin = log_in(app.test_client(), "admin@crm.example")
    assert record_disclosure(admin, admin_id, [EMAIL]).status_code == 302
    uploaded = upload(admin, b"e-mail,naam\nvan@example.be,Van\n")
    paths["staff.import_mapping"] = uploaded.headers["Location"]
    return paths


def detail_arguments(app: Flask) -> dict[str, dict[str, Any]]:
    """The path arguments of each detail page, for the objects make_objects made."""
    with app.app_context():
        contact = find_contact(EMAIL)
        assert contact is not None

        def first(column: Any) -> Any:
            return db.session.scalars(sa.select(column)).first()

        webhook = {"public_id": first(WebhookEndpoint.public_id)}
        public_id = sa.select(Campaign.public_id).order_by(Campaign.id)
        draft = db.session.scalars(public_id.where(Campaign.status == "draft")).first()
        sent = db.session.scalars(public_id.where(Campaign.status == "sent")).first()
        return {
            "staff.contact": {"public_id": contact.public_id},
            "staff.edit_contact": {"public_id": contact.public_id},
            "staff.inquiry": {"public_id": first(Inquiry.public_id)},
            "staff.request_detail": {"public_id": first(DataRequest.public_id)},
            "staff.campaign": {"public_id": draft},
            "staff.repermission": {"public_id": first(Repermission.public_id)},
            "staff.edit_campaign": {"public_id": draft},
            "public.archive_entry": {"topic": "service-news", "public_id": sent},
            "staff.edit_activity": {"activity_id": first(ProcessingActivity.id)},
            "staff.user": {"user_id": first(StaffUser.id)},
            "staff.webhook": webhook,
            "staff.webhook_edit": webhook,
            "staff.webhook_delete": webhook,
            "staff.webhook_rotate_secret": webhook,
            "public.privacy_version": {"version": 1},
        }


def pages_to_scan(app: Flask, paths: dict[str, str]) -> dict[str, str]:
    """Endpoint → path for every GET page; fails on an endpoint neither scanned nor
    excluded, and on an exclusion that names no endpoint."""
    arguments = detail_arguments(app)
    pages: dict[str, str] = {}
    unlisted = []
    get_endpoints = {r.endpoint: r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())}
    with app.test_request_context():
        for endpoint, rule in sorted(get_endpoints.items()):
            if endpoint in EXCLUDED:
                continue
            if endpoint in paths:
                pages[endpoint] = paths[endpoint]
            elif endpoint in arguments:
                pages[endpoint] = url_for(endpoint, **arguments[endpoint])
            elif not rule.arguments:
                pages[endpoint] = url_for(endpoint)
            else:
                unlisted.append(endpoint)
    assert unlisted == [], f"GET pages neither scanned nor excluded (with a reason): {unlisted}"
    stale = set(EXCLUDED) - set(get_endpoints)
    assert stale == set(), f"exclusions for endpoints that no longer exist: {stale}"
    return pages


def with_language(path: str, language: str) -> str:
    return path + ("&" if "?" in path else "?") + f"lang={language}"


def scan(tab: Any, url: str, widths: tuple[int, ...]) -> list[tuple[int, dict[str, Any]]]:
    """Load the page once and scan it at each width, in that order."""
    response = tab.goto(url)
    assert response is not None and response.status < 500, f"{url}: {response}"
    assert "text/html" in response.headers.get("content-type", ""), url
    assert tab.url.split("?")[0] == url.split("?")[0], f"{url} redirected to {tab.url}"
    findings = []
    for width in widths:
        tab.set_viewport_size({"width": width, "height": 900})
        found = tab.evaluate(RUN_AXE)
        findings += [(width, v) for v in found if v["impact"] in FAILING_IMPACTS]
    return findings


def log_in_browser(tab: Any, live_url: str, email: str, lands_on: str) -> None:
    tab.goto(live_url + "/staff/login")
    tab.locator("#email").fill(email)
    tab.locator("#password").fill(STAFF_PASSWORD)
    tab.locator("main form button[type=submit]").click()
    tab.wait_for_url(live_url + lands_on)


# The campaign's confirmation pages, opened with these buttons of the draft's page.
CONFIRMATIONS = ("Goedkeuren en versturen…", "Nieuwsbrief annuleren…")

# The login pages first, without a session; then every other page as the admin.
STEPS = {
    "staff.login_totp": ("totp@crm.example", "/staff/login/totp"),
    "staff.home": ("admin@crm.example", "/staff/"),
}


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_axe_finds_nothing_serious_on_any_page(
    app: Flask, smtp_server: SMTPServer, admin_id: int, browser: Any, live_url: str
) -> None:
    """One backend: the pages look the same on both, and the scan is the slow part."""
    paths = make_objects(app, smtp_server, admin_id)
    pages = pages_to_scan(app, paths)
    assert len(pages) > 40, sorted(pages)
    failures, known, seen = [], [], set()
    context = browser.new_context(bypass_csp=True, locale="nl-BE")
    context.add_init_script(path=str(AXE))
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    order = ["staff.login", *STEPS, *(e for e in pages if e != "staff.login" and e not in STEPS)]
    widths = WIDTHS
    for endpoint in order:
        if endpoint in STEPS:
            log_in_browser(tab, live_url, *STEPS[endpoint])
        for language in LANGUAGES:
            url = live_url + with_language(pages[endpoint], language)
            for width, finding in scan(tab, url, widths):
                line = (
                    f"{finding['impact']} {finding['id']} on {endpoint} ({language}, "
                    f"{width} px): {finding['help']} at {finding['targets']}"
                )
                key = (finding["id"], endpoint)
                seen.add(key)
                (known if key in KNOWN else failures).append(line)
            widths = widths[::-1]  # the next page starts at the width this one ended at
    for button in CONFIRMATIONS:  # pages that answer a POST: reached by their button
        tab.goto(live_url + with_language(pages["staff.campaign"], "nl"))
        tab.get_by_role("button", name=button).click()
        tab.wait_for_load_state()
        for width in WIDTHS:
            tab.set_viewport_size({"width": width, "height": 900})
            failures += [
                f"{v['impact']} {v['id']} after {button!r} ({width} px): {v['help']} at "
                f"{v['targets']}"
                for v in tab.evaluate(RUN_AXE)
                if v["impact"] in FAILING_IMPACTS
            ]
    context.close()
    if known:
        print("known findings, to be fixed:\n" + "\n".join(sorted(known)))
    if fixed := KNOWN - seen:
        print(f"no longer found, remove from KNOWN: {sorted(fixed)}")
    assert failures == [], "\n".join(failures)


# What the keyboard user sees on the focused element: its outline or box shadow, and the
# background behind it (the first ancestor with a background colour).
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  let background = "rgb(255, 255, 255)";
  for (let node = el.parentElement; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (colour && colour !== "transparent" && !colour.endsWith(", 0)")) {
      background = colour;
      break;
    }
  }
  return {
    element: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.name ? "[name=" + el.name + "]" : "") + " " + (el.textContent || "").trim().slice(0, 30),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2
      ? style.outlineColor : null,
    shadow: style.boxShadow !== "none" ? style.boxShadow : null,
    background: background,
  };
}"""


def rgb(colour: str) -> tuple[float, float, float]:
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", colour)[:3])
    return red, green, blue


def contrast(first: str, second: str) -> float:
    """The WCAG contrast ratio of two CSS rgb() colours."""

    def luminance(colour: str) -> float:
        channels = [c / 255 for c in rgb(colour)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_matches_known_ratios() -> None:
    assert round(contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)"), 1) == 21.0
    assert round(contrast("rgb(245, 166, 35)", "rgb(255, 255, 255)"), 1) == 2.0


def focus_problems(tab: Any, url: str) -> tuple[list[str], int]:
    """Tab through the page from the top; every focused element whose indicator is
    missing or below 3:1 against its background, and how many elements were reached."""
    tab.goto(url)
    problems, seen = [], []
    for _ in range(80):
        tab.keyboard.press("Tab")
        focused = tab.evaluate(FOCUSED)
        if focused is None or focused["element"] in seen:
            break
        seen.append(focused["element"])
        colour = focused["outline"] or focused["shadow"]
        if colour is None:
            problems.append(f"{url}: no focus indicator on {focused['element']}")
        elif (ratio := contrast(colour, focused["background"])) < 3:
            problems.append(
                f"{url}: focus indicator {colour} on {focused['background']} is {ratio:.1f}:1 "
                f"on {focused['element']}"
            )
    return problems, len(seen)


@pytest.mark.browser
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_public_form_shows_where_the_keyboard_focus_is(
    app: Flask, smtp_server: SMTPServer, browser: Any, live_url: str
) -> None:
    client = app.test_client()
    subscribe(client)
    assert confirm(client, confirmation_link(app, smtp_server)) == 200
    deliver(app)
    [welcome] = [m for m in smtp_server.to(ADDRESS) if "/preferences/" in text_of(m)]
    forms = [
        "/subscribe",
        "/contact",
        "/my-data",
        "/preferences",
        path_in(welcome, "/preferences/"),
    ]
    problems = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="nl-BE")
        tab = context.new_page()
        for path in forms:
            found, reached = focus_problems(tab, live_url + path)
            assert reached >= 5, f"only {reached} elements reached by Tab on {path}"
            problems += [f"{width} px: {problem}" for problem in found]
        context.close()
    assert problems == [], "\n".join(problems)


def test_every_scrollable_table_is_a_named_keyboard_stop() -> None:
    """A `.table-wrap` scrolls sideways on a phone: it takes the focus (so the arrow keys
    scroll it) and a screen reader names the region."""
    templates = Path(__file__).parent.parent / "templates"
    wraps = [
        (path.name, tag)
        for path in sorted(templates.rglob("*.html"))
        for tag in re.findall(r"<div[^>]*\btable-wrap\b[^>]*>", path.read_text())
    ]
    assert len(wraps) >= 10
    unreachable = [
        (name, tag)
        for name, tag in wraps
        if not ('tabindex="0"' in tag and 'role="region"' in tag and "aria-label" in tag)
    ]
    assert unreachable == []
