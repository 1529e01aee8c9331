"""The import's mapping step: columns guessed from the header in Dutch or English, a
preview of the first rows as they will be imported, and a report whose error lines
name the field and show the rejected value."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from consentapp.labels import label
from consentapp.services.csv_import import CHANNEL_WORDS, IMPORT_CHANNELS
from consentapp.services.import_preview import guess_columns, header_key
from tests.flows import MAPPING, import_csv, upload
from tests.helpers import post_form, stored


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["E-mail", "Naam", "Bedrijf", "Adres", "Telefoon", "Fax", "Taal"],
            ["email", "name", "company", "address", "phone", "fax", "language"],
        ),
        (
            ["Email", "Name", "Company", "Address", "Phone", "Fax", "Language"],
            ["email", "name", "company", "address", "phone", "fax", "language"],
        ),
        (
            [" e-mailadres ", "NAAM", "Bedrijfsnaam", "Tél.", "Kanaal", "Bewijs"],
            ["email", "name", "company", "phone", "channel_column", "evidence_column"],
        ),
        (
            ["E-mail address", "Full name", "Mobile", "Preferred language"],
            ["email", "name", "phone", "language"],
        ),
    ],
)
def test_columns_are_guessed_from_dutch_and_english_headers(
    header: list[str], expected: list[str]
) -> None:
    guessed = guess_columns(header)
    assert {name: column for name, column in guessed.items() if column} == dict(
        zip(expected, header, strict=True)
    )


def test_a_header_is_compared_without_case_accents_spaces_or_dashes() -> None:
    assert header_key(" É-mail Adres ") == header_key("emailadres") == "emailadres"
    assert guess_columns(["Opmerking", "Datum"]) == dict.fromkeys(guess_columns([]), "")


def _selected(page: str, select: str) -> str:
    """The value of the selected option of a select element (by id)."""
    block = re.search(rf'<select[^>]*id="{select}"[^>]*>(.*?)</select>', page, re.S)
    assert block is not None, select
    chosen = re.search(r'<option selected value="([^"]*)"', block.group(1))
    chosen = chosen or re.search(r'<option value="([^"]*)" selected', block.group(1))
    return html.unescape(chosen.group(1)) if chosen else ""


DUTCH_FILE = (
    "E-mail;Naam;Bedrijf;Telefoon;Taal;Opmerking\n"
    "els@example.be;Els Janssens;Janssens & Zonen;09 265 81 11;nl;vaste klant\n"
    "john@example.com;John Smith;Smith Ltd;+44 20 7946 0958;EN;\n"
    "geen-adres;Zonder Adres;;;nl;\n"
    "d@example.be;D;;;nl;\n"
    "e@example.be;E;;;nl;\n"
    "zesde@example.be;Zesde Rij;;;nl;\n"
)


def test_the_mapping_form_starts_from_the_guessed_columns(
    app: Flask, admin_client: FlaskClient
) -> None:
    location = upload(admin_client, DUTCH_FILE.encode()).headers["Location"]
    page = admin_client.get(location).get_data(as_text=True)
    chosen = {name: _selected(page, name) for name in ("email", "name", "company", "phone")}
    assert chosen == {"email": "E-mail", "name": "Naam", "company": "Bedrijf", "phone": "Telefoon"}
    assert _selected(page, "language") == "Taal"
    assert _selected(page, "address") == ""
    assert ">ondertekende overeenkomst</option>" in page, "channels in words"


def _preview_rows(page: str) -> list[str]:
    section = page.split('id="preview-title"', 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr><td class=\"num\">.*?</tr>", section, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in rows]


def test_the_preview_shows_the_first_rows_as_they_will_be_imported(
    app: Flask, admin_client: FlaskClient
) -> None:
    location = upload(admin_client, DUTCH_FILE.encode()).headers["Location"]
    page = admin_client.get(location).get_data(as_text=True)
    head = page.split('id="preview-title"', 1)[1].split("</thead>", 1)[0]
    assert [h for h in re.findall(r"<th>([^<]*)</th>", head)] == [
        "Regel",
        "E-mailadres",
        "Naam",
        "Bedrijf",
        "Telefoon",
        "Taal",
    ]
    rows = _preview_rows(page)
    assert len(rows) == 5, "the first five rows, not the sixth"
    assert rows[0] == "2 els@example.be Els Janssens Janssens &amp; Zonen +3292658111 nl"
    assert rows[1].startswith("3 john@example.com John Smith Smith Ltd +442079460958 en")
    assert rows[2].startswith("4 Niet geïmporteerd: E-mailadres “geen-adres”")
    assert "geen-adres" in rows[2]
    assert "zesde@example.be" not in page
    assert stored(app, "els@example.be") is None, "a preview imports nothing"


def test_the_preview_follows_the_mapping_staff_chose(app: Flask, admin_client: FlaskClient) -> None:
    location = upload(admin_client, DUTCH_FILE.encode()).headers["Location"]
    data = {
        **MAPPING,
        "upload": location.rsplit("/", 1)[1],
        "email": "E-mail",
        "name": "Opmerking",
        "channel": "agreement",
        "evidence": "Contract 2024",
        "preview": "1",
    }
    response = post_form(admin_client, location, data)
    assert response.status_code == 200
    rows = _preview_rows(response.get_data(as_text=True))
    assert rows[0] == "2 els@example.be vaste klant ondertekende overeenkomst Contract 2024"
    assert stored(app, "els@example.be") is None


def test_a_column_the_file_does_not_have_is_refused_next_to_its_field(
    app: Flask, admin_client: FlaskClient
) -> None:
    location = upload(admin_client, DUTCH_FILE.encode()).headers["Location"]
    data = {**MAPPING, "upload": location.rsplit("/", 1)[1], "email": "Geen kolom"}
    response = post_form(admin_client, location, data)
    assert response.status_code == 400
    assert 'id="email-errors"' in response.get_data(as_text=True)
    assert stored(app, "els@example.be") is None


def test_each_error_line_names_the_field_and_shows_the_rejected_value(
    app: Flask, admin_client: FlaskClient
) -> None:
    long_name = "<b>" + "x" * 200 + "</b>"
    text = (
        "E-mail;Naam;Telefoon;Taal\n"
        "good@example.be;Good;;nl\n"
        "<script>alert(1)</script>;Bad Mail;;nl\n"
        "phone@example.be;Bad Phone;12;nl\n"
        "lang@example.be;Bad Language;;fr\n"
        f"long@example.be;{long_name};;nl\n"
        "GOOD@example.be;Twice;;nl\n"
    )
    response = import_csv(
        admin_client, text, email="E-mail", name="Naam", phone="Telefoon", language="Taal"
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script>alert(1)" not in page
    table = page.split("<tbody>")[-1].split("</tbody>")[0]
    lines = [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row]
        for row in (re.findall(r"<td[^>]*>(.*?)</td>", tr) for tr in table.split("</tr>"))
        if row
    ]
    assert [line[:3] for i, line in enumerate(lines) if i != 3] == [
        ["3", "E-mailadres", "“<script>alert(1)</script>”"],
        ["4", "Telefoon", "“12”"],
        ["5", "Taal", "“fr”"],
        ["7", "E-mailadres", "“good@example.be”"],
    ]
    assert all(line[3] for line in lines), "each line says why"
    shortened = lines.pop(3)
    assert shortened[:2] == ["6", "Naam"]
    assert shortened[2].startswith("“<b>xxx") and shortened[2].endswith("...”")
    assert len(shortened[2]) < 70, "a long value is shortened"
    assert "2" in lines[-1][3], "the duplicate names the first line"


def test_the_channel_column_may_name_the_channel_in_dutch_or_english(
    app: Flask, admin_client: FlaskClient
) -> None:
    text = (
        "E-mail;Kanaal;Bewijs\n"
        "a@example.be;Telefoon;Gesprek 12 mei\n"
        "b@example.be;Ondertekende overeenkomst;Contract 7\n"
        "c@example.be;Website-formulier;Formulier 3\n"
        "d@example.be;E-mail;Mail 4\n"
        "e@example.be;fax;Fax 5\n"
    )
    response = import_csv(
        admin_client,
        text,
        email="E-mail",
        name="",
        channel_column="Kanaal",
        channel="",
        evidence_column="Bewijs",
        evidence="",
    )
    assert response.status_code == 200
    channels = {
        email: (stored(app, email) or {}).get("source_channel")
        for email in ("a@example.be", "b@example.be", "c@example.be", "d@example.be")
    }
    assert channels == {
        "a@example.be": "phone",
        "b@example.be": "agreement",
        "c@example.be": "web_form",
        "d@example.be": "email",
    }
    assert stored(app, "e@example.be") is None
    assert "“fax”" in response.get_data(as_text=True)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_channel_word_the_upload_page_names_is_understood(app: Flask, language: str) -> None:
    """The upload page names the channels by their labels: a file may use those words."""
    with app.test_request_context(headers={"Accept-Language": language}):
        for channel in IMPORT_CHANNELS:
            word = re.sub(r"[^a-z]", "", label(channel).casefold())
            assert CHANNEL_WORDS.get(word) == channel, (language, label(channel))
