"""The staff menu: Dashboard and four groups, admin items for admins only, the current
page and its group marked. How it looks and folds in Chromium: tests/test_browser.py."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

GROUPS = ["Contacten", "Nieuwsbrieven", "Privacy en rechten", "Beheer"]


def menu(html: str) -> str:
    found = re.search(r'<nav class="site-nav staff-menu".*?</nav>', html, re.S)
    assert found, "no staff menu"
    return found.group(0)


def groups(nav: str) -> dict[str, list[str]]:
    """Group name -> the names of its links."""
    found = {}
    for block in re.findall(r'<li class="menu-group.*?</details>', nav, re.S):
        title = re.search(r"<summary>([^<]+)", block)
        assert title
        found[title.group(1).strip()] = [
            name.strip() for name in re.findall(r"<a [^>]*>([^<]+)</a>", block)
        ]
    return found


def test_admins_see_dashboard_then_four_groups(admin_client: FlaskClient) -> None:
    nav = menu(admin_client.get("/staff/").get_data(as_text=True))
    assert re.search(r'<a class="menu-top" href="/staff/"\s+aria-current="page">Overzicht</a>', nav)
    assert groups(nav) == {
        "Contacten": [
            "Alle contacten",
            "Vragen",
            "Toestemming vastleggen",
            "CSV importeren",
            "CSV exporteren",
        ],
        "Nieuwsbrieven": ["Alle nieuwsbrieven", "Opnieuw vragen", "Bounces", "Op uw website"],
        "Privacy en rechten": ["Verzoeken", "Verstrekkingen", "Register", "Privacyverklaring"],
        "Beheer": ["Auditlog", "Medewerkers", "Webhooks", "API-tokens", "Instellingen"],
    }


def test_staff_members_see_no_admin_items(staff_client: FlaskClient) -> None:
    nav = menu(staff_client.get("/staff/").get_data(as_text=True))
    found = groups(nav)
    assert list(found) == ["Contacten", "Nieuwsbrieven", "Privacy en rechten"]
    assert found["Privacy en rechten"] == ["Verzoeken", "Verstrekkingen", "Register"]
    for admin_only in ("/staff/audit", "/staff/users", "/staff/settings", "/staff/notices"):
        assert f'href="{admin_only}' not in nav


@pytest.mark.parametrize(
    ("path", "group", "item"),
    [
        ("/staff/contacts", "Contacten", "Alle contacten"),
        ("/staff/inquiries", "Contacten", "Vragen"),
        ("/staff/contacts/import", "Contacten", "CSV importeren"),
        ("/staff/campaigns", "Nieuwsbrieven", "Alle nieuwsbrieven"),
        ("/staff/repermission", "Nieuwsbrieven", "Opnieuw vragen"),
        ("/staff/requests", "Privacy en rechten", "Verzoeken"),
        ("/staff/settings", "Beheer", "Instellingen"),
    ],
)
def test_the_current_page_and_its_group_are_marked(
    admin_client: FlaskClient, path: str, group: str, item: str
) -> None:
    response = admin_client.get(path)
    assert response.status_code == 200
    nav = menu(response.get_data(as_text=True))
    assert re.findall(r'aria-current="page">([^<]+)</a>', nav) == [item]
    current = re.findall(
        r'<li class="menu-group menu-group-current">\s*<details name="staff-menu">\s*'
        r"<summary>([^<]+)<span",
        nav,
    )
    assert [name.strip() for name in current] == [group]


def test_the_menu_script_is_a_static_file(app: Flask, admin_client: FlaskClient) -> None:
    html = admin_client.get("/staff/").get_data(as_text=True)
    assert re.search(r'<script src="/static/js/staff-menu\.js[^"]*" defer></script>', html)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert " onclick=" not in html
    script = admin_client.get("/static/js/staff-menu.js")
    assert script.status_code == 200
    assert b"Escape" in script.get_data()
    script.close()
