"""The privacy notice: versioned, always online, and the ledger names what was shown."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp.extensions import db
from consentapp.models import ConsentEvent, ImmutableRowError, PrivacyNotice, Topic
from tests.builders import VALID
from tests.helpers import post_form

FINGERPRINT = re.compile(r'data-sha256="([0-9a-f]{64})"')


def shown_fingerprint(client: FlaskClient, url: str) -> str:
    match = FINGERPRINT.search(client.get(url).get_data(as_text=True))
    assert match
    return match.group(1)


def test_privacy_page_shows_the_company_and_current_version(client: FlaskClient) -> None:
    response = client.get("/privacy")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Privacyverklaring van CRM" in html
    assert "privacy@crm.example" in html
    assert "Gegevensbeschermingsautoriteit" in html


def test_english_notice_is_served_in_english(client: FlaskClient) -> None:
    html = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "Privacy notice of CRM" in html
    assert "Belgian Data Protection Authority" in html


def test_ledger_hash_matches_the_notice_shown(app: Flask, client: FlaskClient) -> None:
    shown = shown_fingerprint(client, "/privacy")
    post_form(client, "/contact", VALID)
    with app.app_context():
        event = db.session.scalar(sa.select(ConsentEvent))
        assert event is not None
        notice = db.session.get(PrivacyNotice, event.notice_id)
        assert notice is not None
        assert event.notice_sha256 == shown
        assert hashlib.sha256(notice.text.encode("utf-8")).hexdigest() == shown


def test_rendered_notice_is_the_hashed_text(app: Flask, client: FlaskClient) -> None:
    html = client.get("/privacy").get_data(as_text=True)
    with app.app_context():
        notice = db.session.scalar(sa.select(PrivacyNotice).where(PrivacyNotice.language == "nl"))
        assert notice is not None
        for heading in re.findall(r"^## (.+)$", notice.text, flags=re.M):
            assert f"<h2>{heading}</h2>" in html


def publish(runner: FlaskCliRunner, folder: Path, nl_body: str, en_body: str) -> str:
    """Publish a new notice version through the command operators use."""
    paths = []
    for language, title, body in (
        ("nl", "Privacyverklaring", nl_body),
        ("en", "Privacy notice", en_body),
    ):
        path = folder / f"{language}.md"
        path.write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
        paths += [f"--{language}", str(path)]
    result = runner.invoke(args=["publish-notice", *paths])
    assert result.exit_code == 0, result.output
    return result.output


def test_new_version_keeps_the_old_one_online(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    first = shown_fingerprint(client, "/privacy")
    assert "version 2" in publish(runner, tmp_path, "Versie twee.", "Version two.")
    current = client.get("/privacy").get_data(as_text=True)
    assert "Versie twee." in current
    old = client.get("/privacy/1")
    assert old.status_code == 200
    assert "eerdere versie" in old.get_data(as_text=True)
    assert shown_fingerprint(client, "/privacy/1") == first
    assert 'href="/privacy/1"' in current


def test_contact_form_posted_against_an_older_version_records_that_version(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    publish(runner, tmp_path, "Twee.", "Two.")
    post_form(client, "/contact", {**VALID, "notice_version": "1"})
    post_form(client, "/contact", {**VALID, "notice_version": "999", "message": "Tweede vraag"})
    with app.app_context():
        versions = db.session.scalars(
            sa.select(ConsentEvent.notice_version).order_by(ConsentEvent.id)
        ).all()
    assert versions == [1, 2]


def test_unknown_version_is_404(client: FlaskClient) -> None:
    assert client.get("/privacy/42").status_code == 404
    assert client.get("/privacy/abc").status_code == 404


def test_notice_rows_cannot_be_edited_through_the_orm(app: Flask) -> None:
    with app.app_context():
        notice = db.session.scalar(sa.select(PrivacyNotice))
        assert notice is not None
        notice.text = "Something else"
        with pytest.raises(ImmutableRowError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE privacy_notices SET text = 'changed'",
        "DELETE FROM privacy_notices",
        "UPDATE consent_events SET action = 'given'",
        "DELETE FROM consent_events",
    ],
)
def test_database_refuses_changes_to_notices_and_ledger(
    app: Flask, client: FlaskClient, statement: str
) -> None:
    post_form(client, "/contact", VALID)
    with app.app_context():
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()


def test_seed_is_idempotent(app: Flask, runner: FlaskCliRunner) -> None:
    for _ in range(2):
        result = runner.invoke(args=["seed"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        slugs = db.session.scalars(sa.select(Topic.slug).order_by(Topic.position)).all()
        assert slugs == ["product-updates", "service-news", "company-news"]
        versions = db.session.scalars(sa.select(PrivacyNotice.version)).all()
        assert versions == [1, 1]
    assert "already published" in result.output


def test_html_in_a_notice_is_shown_as_text_not_run(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    evil = '<script>alert(1)</script> <img src=x onerror="alert(2)">'
    publish(runner, tmp_path, evil, evil)
    html = client.get("/privacy").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
