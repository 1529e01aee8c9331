"""Every CSV the app produces, downloaded as its users download it, holds no cell a
spreadsheet would run: text typed by anyone arrives with a leading `'`."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consentapp.models import ProcessingActivity
from consentapp.services.csv_cells import safe_cell
from tests.builders import EMAIL, VALID
from tests.flows import ask, press, record_disclosure, verification_path
from tests.helpers import activity, post_form
from tests.services import SMTPServer

DDE = "=cmd|' /C calc'!A0"
PAYLOADS = ["=1+1", "+cmd", "-2+3", "@SUM(1)", "\t=1+1", "\r=1+1", DDE]
# A number a spreadsheet shows as a number, not a formula: left as it is.
HARMLESS = re.compile(r"\+[0-9]{4,15}|-[0-9]+([.,][0-9]+)?")


def runs_in_a_spreadsheet(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not HARMLESS.fullmatch(cell)


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_safe(text: str, payloads: list[str]) -> None:
    found = cells(text)
    assert [cell for cell in found if runs_in_a_spreadsheet(cell)] == []
    for payload in payloads:
        assert "'" + payload in found, f"{payload!r} did not reach this CSV"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        *((payload, "'" + payload) for payload in PAYLOADS),
        ("+3292658111", "+3292658111"),
        ("-12", "-12"),
        ("-3,5", "-3,5"),
        ("Kerkstraat 1", "Kerkstraat 1"),
        (None, ""),
    ],
)
def test_a_formula_becomes_text_and_a_number_stays_a_number(
    value: str | None, written: str
) -> None:
    assert safe_cell(value) == written


def test_every_csv_download_is_free_of_formulas(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    admin_client: FlaskClient,
    admin_id: int,
) -> None:
    typed = {"name": DDE, "company": "@SUM(1)", "message": "=1+1"}
    assert post_form(client, "/contact", {**VALID, **typed}).status_code == 302

    export = post_form(
        admin_client,
        "/staff/contacts/export",
        {
            "fields": ["email", "name", "company", "address", "phone"],
            "purpose": "formula check",
            "topic": "",
            "status": "",
        },
    )
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert_safe(export.get_data(as_text=True), [DDE, "@SUM(1)"])

    ask(client, "access")
    status, html = press(client, verification_path(app, smtp_server, EMAIL))
    assert status == 200
    own_copy = re.search(r'href="(/my-data/export/[^"]+\.csv)"', html)
    assert own_copy
    response = client.get(own_copy.group(1))
    assert response.mimetype == "text/csv"
    assert_safe(response.get_data(as_text=True), [DDE, "@SUM(1)", "=1+1"])

    disclosed = {"recipient": "+cmd", "legal_basis": "-2+3", "reference": DDE}
    assert record_disclosure(admin_client, admin_id, [EMAIL], **disclosed).status_code == 302
    response = admin_client.get("/staff/disclosures.csv")
    assert response.mimetype == "text/csv"
    assert_safe(response.get_data(as_text=True), ["+cmd", "-2+3", DDE])

    entry = activity(app)
    edited = {name: entry[name] for name in ProcessingActivity.FIELDS}
    edited |= {"bases": entry["bases"].split()}
    # The form trims a leading tab or carriage return: the formula behind it remains.
    edited |= {"recipients": "\t=1+1", "retention": "\r=1+1", "purposes": "@SUM(1)"}
    response = post_form(admin_client, f"/staff/register/{entry['id']}", edited)
    assert response.status_code == 302
    response = admin_client.get("/staff/register.csv")
    assert response.mimetype == "text/csv"
    assert_safe(response.get_data(as_text=True), ["@SUM(1)", "=1+1"])
