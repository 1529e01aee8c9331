"""The optional question after unsubscribing: counted, never linked to the person."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.keyring import serializer_keys
from consentapp.models import ConsentEvent, FeedbackCount, FeedbackNonce, utcnow
from consentapp.schedule import clean_up
from consentapp.services.unsubscribe_feedback import survey_token
from tests.builders import make_campaign
from tests.flows import start, welcome_mail
from tests.helpers import audited, csrf_token, deliver, link_in, subscribed, visible_text
from tests.services import SMTPServer

SURVEY = re.compile(r'name="survey" type="hidden" value="([^"]+)"')


def newsletter_unsubscribe(app: Flask, smtp_server: SMTPServer, email: str) -> str:
    """Send the usual campaign and return the path of `email`'s unsubscribe link."""
    start(app, make_campaign(app))
    deliver(app)
    [mail] = [m for m in smtp_server.to(email) if m["List-Id"]]
    return str(mail["List-Unsubscribe"]).strip("<>").removeprefix("http://localhost")


def campaign_id(app: Flask) -> str:
    with app.app_context():
        return str(db.session.scalar(sa.text("SELECT public_id FROM campaigns")))


def answer(client: FlaskClient, token: str, value: str) -> TestResponse:
    """Send the survey form as a browser does, with the session's CSRF token."""
    csrf = csrf_token(client, "/subscribe")
    return client.post(
        "/unsubscribe-feedback", data={"csrf_token": csrf, "survey": token, "answer": value}
    )


def counts(app: Flask) -> dict[tuple[str, str, str], int]:
    with app.app_context():
        rows = db.session.scalars(sa.select(FeedbackCount)).all()
        return {(r.campaign, r.answer, r.period): r.count for r in rows}


def test_the_question_follows_a_campaign_unsubscribe_with_no_answer_chosen(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    page = client.post(newsletter_unsubscribe(app, smtp_server, "nl@example.be"))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert subscribed(app, "nl@example.be") == {"service-news": "unsubscribed"}
    assert "U bent uitgeschreven" in html
    assert 'action="/unsubscribe-feedback"' in html
    assert html.count('type="radio"') == 4
    assert "checked" not in html, "no answer is chosen beforehand"
    assert "<textarea" not in html and 'type="text"' not in html, "no free text"
    assert SURVEY.search(html)


def test_an_answer_is_counted_for_the_campaign_and_thanked(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    html = client.post(newsletter_unsubscribe(app, smtp_server, "nl@example.be")).get_data(
        as_text=True
    )
    token = SURVEY.search(html)
    assert token
    response = answer(client, token.group(1), "not_relevant")
    assert response.status_code == 200
    assert "Bedankt" in visible_text(response.get_data(as_text=True))
    assert counts(app) == {(campaign_id(app), "not_relevant", ""): 1}


def test_nothing_about_the_person_is_stored(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    html = client.post(newsletter_unsubscribe(app, smtp_server, "nl@example.be")).get_data(
        as_text=True
    )
    token = SURVEY.search(html)
    assert token and answer(client, token.group(1), "too_many").status_code == 200
    with app.app_context():
        inspector = sa.inspect(db.engine)
        assert {c["name"] for c in inspector.get_columns("unsubscribe_feedback")} == {
            "campaign",
            "answer",
            "period",
            "count",
            "flagged",
        }
        assert {c["name"] for c in inspector.get_columns("unsubscribe_feedback_nonces")} == {
            "nonce_sha256",
            "expires_on",
        }
        withdrawal = db.session.scalars(
            sa.select(ConsentEvent).where(ConsentEvent.action == "withdrawn")
        ).all()[-1]
        person = {withdrawal.subject_id, "nl@example.be", token.group(1)}
        for table in ("unsubscribe_feedback", "unsubscribe_feedback_nonces"):
            for row in db.session.execute(sa.text(f"SELECT * FROM {table}")).all():
                stored = {str(value) for value in row}
                assert not stored & person, (table, row)
                assert not any(re.search(r"\d\d:\d\d", value) for value in stored), row
        [nonce] = db.session.scalars(sa.select(FeedbackNonce)).all()
        assert nonce.expires_on > utcnow().date(), "a day, not a moment"


def test_an_unsubscribe_without_a_campaign_counts_per_month(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, confirmed: None
) -> None:
    html = client.post(link_in(welcome_mail(smtp_server), "/unsubscribe/")).get_data(as_text=True)
    token = SURVEY.search(html)
    assert token and answer(client, token.group(1), "other").status_code == 200
    assert counts(app) == {("", "other", utcnow().strftime("%Y-%m")): 1}


def test_a_second_press_and_the_providers_one_click_get_no_question(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    path = newsletter_unsubscribe(app, smtp_server, "nl@example.be")
    one_click = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and b"unsubscribe-feedback" not in one_click.data
    again = client.post(path)
    assert again.status_code == 200 and b"unsubscribe-feedback" not in again.data


def test_a_replayed_answer_counts_once_and_says_so(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context():
        token = survey_token("campaign-x")
    assert answer(client, token, "too_many").status_code == 200
    replay = answer(client, token, "not_relevant")
    assert replay.status_code == 409
    assert "al geteld" in visible_text(replay.get_data(as_text=True))
    assert counts(app) == {("campaign-x", "too_many", ""): 1}


@pytest.mark.parametrize("value", ["", "free text about me", "never_asked "])
def test_an_answer_not_offered_is_refused_with_a_message(
    app: Flask, client: FlaskClient, value: str
) -> None:
    with app.test_request_context():
        token = survey_token(None)
    response = answer(client, token, value)
    assert response.status_code == 400
    assert "Kies een van de antwoorden" in response.get_data(as_text=True)
    assert counts(app) == {}


def test_a_tampered_or_expired_form_is_refused(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context():
        token = survey_token("campaign-x")
    tampered = answer(client, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "other")
    assert tampered.status_code == 400
    assert "niet geteld" in visible_text(tampered.get_data(as_text=True))
    with app.test_request_context():
        old = URLSafeTimedSerializer(
            serializer_keys(), salt="consentapp.unsubscribe-feedback", signer=TwoDaysAgo
        )
        expired = old.dumps({"k": "campaign-x", "n": "nonce"})
    assert answer(client, str(expired), "other").status_code == 410
    assert counts(app) == {}


class TwoDaysAgo(TimestampSigner):
    """Signs as if it were two days ago: a form older than its day."""

    def get_timestamp(self) -> int:
        return int((utcnow() - timedelta(days=2)).timestamp())


def test_the_report_hides_fewer_than_five_and_shows_five(
    app: Flask, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    start(app, public_id)
    client = app.test_client()
    for _ in range(4):
        with app.test_request_context():
            token = survey_token(public_id)
        assert answer(client, token, "too_many").status_code == 200

    def row() -> str:
        html = admin_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
        found = re.search(r"(?:te veel mails|too many mails)</th><td[^>]*>([^<]+)<", html)
        assert found, "the report shows the answer"
        return found.group(1)

    assert row() == "&lt; 5"
    with app.test_request_context():
        token = survey_token(public_id)
    assert answer(client, token, "too_many").status_code == 200
    assert row() == "5"


def test_never_asked_is_flagged_to_admins_without_the_person(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    smtp_server: SMTPServer,
    audience: None,
) -> None:
    html = client.post(newsletter_unsubscribe(app, smtp_server, "nl@example.be")).get_data(
        as_text=True
    )
    token = SURVEY.search(html)
    assert token and answer(client, token.group(1), "never_asked").status_code == 200
    assert audited(app, "feedback.never_asked") == [], "not at the moment of the answer"
    with app.app_context():
        clean_up()
        clean_up()
    public_id = campaign_id(app)
    [entry] = audited(app, "feedback.never_asked")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (None, "campaign", public_id)
    assert entry.details == {"campaign": public_id, "period": None}
    home = admin_client.get("/staff/").get_data(as_text=True)
    assert 'id="never-asked"' in home
    assert f"/staff/campaigns/{public_id}#feedback" in home
    page = admin_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert 'id="never-asked"' in page
