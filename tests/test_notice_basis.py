"""The privacy notice names, per purpose, what it relies on (GDPR art. 13(1)(c)-(f)):
its legal basis, retention, recipients and whether the data leaves the EEA, generated
from the record of processing, so the Dutch and English notice cannot disagree."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from flask_migrate import downgrade, upgrade

from consentapp.extensions import db
from consentapp.models import ProcessingActivity, text_sha256
from consentapp.services import notices, register
from consentapp.services.processing_terms import bases_text
from tests.helpers import activity, audited, error_messages, post_form

LANGUAGES = ("en", "nl")
STATISTICS = "Personal newsletter statistics"
BASIS_LINE = {"en": "- Legal basis: ", "nl": "- Rechtsgrond: "}
# The letter of art. 6(1) in either language's citation: "6(1)(a)" or "6.1.a".
ARTICLE_LETTER = re.compile(r"6(?:\(1\)\(|\.1\.)([a-f])")


def purpose_sections(text: str) -> dict[str, str]:
    """The generated part of a notice: each purpose's heading and what follows it."""
    parts = text.split("\n### ")[1:]
    sections = {}
    for part in parts:
        heading, _, body = part.partition("\n")
        sections[heading] = body.split("\n## ")[0]
    return sections


def basis_letters(body: str, language: str) -> list[str]:
    """The art. 6(1) letters a purpose's basis line cites, in order."""
    [line] = [line for line in body.splitlines() if line.startswith(BASIS_LINE[language])]
    return ARTICLE_LETTER.findall(line)


def register_entry(name: str) -> ProcessingActivity:
    """The register's activity of this (English) name."""
    found = db.session.scalar(sa.select(ProcessingActivity).where(ProcessingActivity.name == name))
    assert found is not None
    return found


def entry_form(app: Flask, position: int, **changes: object) -> dict[str, object]:
    """The edit form of an activity as a browser sends it, with `changes`."""
    entry = activity(app, position)
    data: dict[str, object] = {name: entry[name] for name in ProcessingActivity.FIELDS}
    data |= {"bases": entry["bases"].split(), "recipient_kinds": entry["recipient_kinds"].split()}
    if entry["outside_eea"]:
        data["outside_eea"] = "y"
    return data | changes


def test_every_purpose_appears_with_its_basis_in_both_languages(app: Flask) -> None:
    with app.app_context():
        entries = register.activities()
        assert entries and all(entry.basis_keys for entry in entries)
        letters = {}
        for language in LANGUAGES:
            sections = purpose_sections(notices.render_notice_template(language)[1])
            names = [register.in_language(entry.name, language) for entry in entries]
            assert list(sections) == names
            with force_locale(language):
                expected = [bases_text(entry.basis_keys) for entry in entries]
            for body, bases in zip(sections.values(), expected, strict=True):
                assert all(basis in body for basis in bases), body
            letters[language] = [basis_letters(body, language) for body in sections.values()]
        assert letters["en"] == letters["nl"]
        assert letters["en"][0] == ["a", "b"]  # contact: consent and contract


def test_removing_a_purpose_from_the_register_removes_it_from_both_notices(
    app: Flask,
) -> None:
    with app.app_context():
        db.session.delete(register_entry(STATISTICS))
        db.session.flush()
        for language in LANGUAGES:
            sections = purpose_sections(notices.render_notice_template(language)[1])
            assert len(sections) == len(register.activities())
            assert register.in_language(STATISTICS, language) not in sections
        db.session.rollback()


def test_the_seeded_notice_names_personal_statistics_on_consent(app: Flask) -> None:
    with app.app_context():
        assert register_entry(STATISTICS).basis_keys == ["consent"]
        for language in LANGUAGES:
            notice = notices.current_notice(language)
            sections = purpose_sections(notice.text)
            body = sections[register.in_language(STATISTICS, language)]
            assert basis_letters(body, language) == ["a"]


def test_a_register_change_leaves_the_published_version_as_it_was(
    app: Flask, admin_client: FlaskClient
) -> None:
    with app.app_context():
        before = {lang: notices.current_notice(lang).text for lang in LANGUAGES}
    data = entry_form(app, 0, bases=["legitimate_interest"])
    assert (
        post_form(admin_client, f"/staff/register/{activity(app)['id']}", data).status_code == 302
    )
    with app.app_context():
        for language in LANGUAGES:
            published = notices.current_notice(language)
            assert published.text == before[language]
            assert published.sha256 == text_sha256(before[language])
            fresh = purpose_sections(notices.render_notice_template(language)[1])
            assert basis_letters(next(iter(fresh.values())), language) == ["f"]


def test_the_edit_names_the_changed_bases_in_the_audit_log(
    app: Flask, admin_client: FlaskClient, admin_id: int
) -> None:
    entry = activity(app)
    data = entry_form(app, 0, bases=["contract"], recipient_kinds=["hosting"])
    assert post_form(admin_client, f"/staff/register/{entry['id']}", data).status_code == 302
    after = activity(app)
    assert (after["bases"], after["recipient_kinds"]) == ("contract", "hosting")
    [audit] = audited(app, "register.edit")
    assert audit.details == {"fields": ["bases", "recipient_kinds"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bases": []}, "Choose at least one legal basis."),
        ({"bases": ["because"]}, "is not one of the options offered."),
        ({"recipient_kinds": ["cloud"]}, "is not one of the options offered."),
    ],
)
def test_an_activity_needs_a_known_legal_basis(
    app: Flask, admin_client: FlaskClient, changes: dict[str, object], message: str
) -> None:
    url = f"/staff/register/{activity(app)['id']}?lang=en"
    response = post_form(admin_client, url, entry_form(app, 0, **changes))
    assert response.status_code == 400
    assert any(message in shown for shown in error_messages(response))
    assert activity(app)["bases"] == "consent contract"


def test_data_that_leaves_the_eea_is_said_so_with_the_transfer(
    app: Flask, admin_client: FlaskClient
) -> None:
    transfer = "To a support desk in Canada, under an adequacy decision."
    url = f"/staff/register/{activity(app, 1)['id']}"
    data = entry_form(app, 1, outside_eea="y", transfers=transfer)
    assert post_form(admin_client, url, data).status_code == 302
    with app.app_context():
        for language, yes in (
            ("en", "- Leaves the European Economic Area: yes. "),
            ("nl", "- Verlaat de Europese Economische Ruimte: ja. "),
        ):
            contact, newsletters, *_ = purpose_sections(
                notices.render_notice_template(language)[1]
            ).values()
            assert yes + transfer in newsletters
            assert yes not in contact


def test_processors_are_named_as_recipients(app: Flask) -> None:
    with app.app_context():
        text = notices.render_notice_template("en")[1]
        newsletters = purpose_sections(text)["Newsletters"]
    assert "our hosting provider, which runs this site and its database (processor)" in newsletters
    assert "the mail relay that delivers our e-mail (processor)" in newsletters


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        (
            "en",
            [
                "(data portability)",
                "(restriction)",
                "to processing that relies on our legitimate interest",
                "(objection)",
                "you may withdraw it at any time",
                "does not affect the lawfulness of what we did with your consent before",
                "Belgian Data Protection Authority",
            ],
        ),
        (
            "nl",
            [
                "(overdraagbaarheid)",
                "(beperking)",
                "tegen een verwerking die op ons gerechtvaardigd belang steunt",
                "(bezwaar)",
                "dan kunt u die altijd intrekken",
                "vóór de intrekking met uw toestemming deden, blijft rechtmatig",
                "Gegevensbeschermingsautoriteit",
            ],
        ),
    ],
)
def test_the_notice_names_every_right(app: Flask, language: str, phrases: list[str]) -> None:
    with app.app_context():
        text = notices.current_notice(language).text
    for phrase in phrases:
        assert phrase in text


@pytest.mark.parametrize(
    ("language", "heading", "basis"),
    [
        ("en", "Personal newsletter statistics", "Consent (art. 6(1)(a) GDPR)"),
        ("nl", "Persoonlijke nieuwsbriefstatistieken", "Toestemming (art. 6.1.a AVG)"),
    ],
)
def test_the_privacy_page_shows_the_purposes_and_bases(
    client: FlaskClient, language: str, heading: str, basis: str
) -> None:
    html = client.get(f"/privacy?lang={language}").get_data(as_text=True)
    assert f"<h3>{heading}</h3>" in html
    assert basis in html


def test_the_staff_register_shows_bases_recipients_and_transfers(
    staff_client: FlaskClient,
) -> None:
    html = staff_client.get("/staff/register?lang=en").get_data(as_text=True)
    assert "Legal obligation (art. 6(1)(c) GDPR)" in html
    assert "the mail relay that delivers our e-mail (processor)" in html
    assert html.count("Data stays in the EEA") == 5


def test_upgrade_fills_in_an_existing_register(app: Flask) -> None:
    """A register made before 0016 gets the bases of its pre-filled activities and the
    personal-statistics activity at its end."""
    with app.app_context():
        db.session.remove()
        downgrade(revision="0013_contact_search")
        upgrade()
        entries = register.activities()
        assert [entry.name for entry in entries][-1] == STATISTICS
        assert [entry.name for entry in entries].count(STATISTICS) == 1
        assert register_entry("Invoicing and accounting").basis_keys == ["legal_obligation"]
        assert register_entry(STATISTICS).recipient_keys == ["hosting"]
        db.session.remove()


def test_a_new_version_starts_from_the_register_as_it_is_now(
    app: Flask, admin_client: FlaskClient
) -> None:
    with app.app_context():
        db.session.delete(register_entry(STATISTICS))
        db.session.commit()
    generated = admin_client.get("/staff/notices?source=register").get_data(as_text=True)
    published = admin_client.get("/staff/notices").get_data(as_text=True)
    assert "### Personal newsletter statistics" in published
    assert "### Persoonlijke nieuwsbriefstatistieken" in published
    assert "### Personal newsletter statistics" not in generated
    assert "### Persoonlijke nieuwsbriefstatistieken" not in generated
    assert "### Newsletters" in generated and "### Nieuwsbrieven" in generated
