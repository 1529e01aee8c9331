"""Double opt-in, welcome mail, one-click unsubscribe, and the links that drive them.

Mail goes through the real SMTP server; links are read out of the received mails
and followed as a mail client and a browser would.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import ConsentEvent, Contact, OutboundEmail, Topic
from tests.builders import ADDRESS, VALID
from tests.flows import confirm, confirmation_link, subscribe, welcome_mail
from tests.helpers import (
    csrf_token,
    deliver,
    is_check_mail_page,
    ledger,
    link_in,
    post_form,
    subscribed,
    text_of,
    without_csrf,
)
from tests.services import SMTPServer


def test_full_double_opt_in_and_one_click_unsubscribe(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    subscribe(client, topics=("product-updates", "company-news"))
    assert subscribed(app) == {"product-updates": "pending", "company-news": "pending"}

    path = confirmation_link(app, smtp_server)
    confirm_mail = smtp_server.to(ADDRESS)[0]
    assert confirm_mail["List-Unsubscribe"] is None, "transactional mail: no list headers"
    page = client.get(path)
    assert page.status_code == 200
    assert "Bevestig mijn inschrijving" in page.get_data(as_text=True)
    assert subscribed(app)["product-updates"] == "pending", "GET must not confirm"

    assert confirm(client, path) == 200
    assert subscribed(app) == {"product-updates": "confirmed", "company-news": "confirmed"}

    deliver(app)
    welcome = welcome_mail(smtp_server)
    unsubscribe_header = welcome["List-Unsubscribe"]  # type: ignore[index]
    assert unsubscribe_header.startswith("<http://localhost/unsubscribe/")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # type: ignore[index]
    text = text_of(welcome)  # type: ignore[arg-type]
    assert unsubscribe_header.strip("<>") in text
    assert "/preferences/" in text

    one_click = unsubscribe_header.strip("<>").removeprefix("http://localhost")
    mail_client = app.test_client(use_cookies=False)
    response = mail_client.post(one_click, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert subscribed(app) == {"product-updates": "unsubscribed", "company-news": "unsubscribed"}

    again = mail_client.post(
        one_click, data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert again.status_code == 200 and "Location" not in again.headers

    actions = ledger(app)
    assert actions.count(("withdrawn", "one_click", "product-updates")) == 1, "idempotent"
    assert ("requested", "web_form", "company-news") in actions
    assert ("confirmed", "web_form", "company-news") in actions

    smtp_server.handler.clear()
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "product-updates"))
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == ADDRESS))
        assert topic and contact
        from consentapp.mail.outbox import queue_email

        queue_email(
            to=ADDRESS,
            template="welcome",
            language="nl",
            subject="Nieuwsbrief",
            context={"topics": [], "unsubscribe_url": "u", "preferences_url": "p"},
            contact_id=contact.id,
            requires_subscription=True,
            topic_id=topic.id,
        )
        db.session.commit()
    assert deliver(app).cancelled == 1
    assert smtp_server.to(ADDRESS) == []


def test_ledger_records_notice_and_client_for_each_step(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    post_form(
        client,
        "/subscribe",
        {"email": ADDRESS, "topics": "service-news"},
        environ_base={"REMOTE_ADDR": "203.0.113.20"},
        headers={"User-Agent": "TestBrowser/1.0"},
    )
    path = confirmation_link(app, smtp_server)
    token = csrf_token(client, path)
    client.post(path, data={"csrf_token": token}, environ_base={"REMOTE_ADDR": "203.0.113.21"})
    with app.app_context():
        events = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)).all()
        contact = db.session.scalar(sa.select(Contact))
        assert contact is not None
        assert [(e.action, e.client_address) for e in events] == [
            ("requested", "203.0.113.20"),
            ("confirmed", "203.0.113.21"),
        ]
        assert all(e.subject_id == contact.public_id for e in events)
        assert all(e.notice_version == 1 and e.notice_sha256 for e in events)
        assert events[0].user_agent == "TestBrowser/1.0"
        assert events[0].details == {"topics": ["service-news"], "language": "nl"}


def test_unsubscribe_before_delivery_cancels_the_queued_welcome(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    subscribe(client)
    assert confirm(client, confirmation_link(app, smtp_server)) == 200
    with app.app_context():
        welcome = db.session.scalar(sa.select(OutboundEmail).where(OutboundEmail.kind == "welcome"))
        assert welcome is not None
        one_click = welcome.headers["List-Unsubscribe"].strip("<>")
    app.test_client(use_cookies=False).post(one_click.removeprefix("http://localhost"))
    report = deliver(app)
    assert report.cancelled == 1
    assert not [m for m in smtp_server.to(ADDRESS) if "Welkom" in str(m["Subject"])]


def test_unsubscribe_page_needs_a_press_and_links_preferences(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, confirmed: None
) -> None:
    header = welcome_mail(smtp_server)["List-Unsubscribe"]  # type: ignore[index]
    path = header.strip("<>").removeprefix("http://localhost")
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<form method="post">' in html and "/preferences/" in html
    assert subscribed(app) == {"product-updates": "confirmed"}
    button = client.post(path)  # the page's button: an empty form body
    assert button.status_code == 200
    assert subscribed(app) == {"product-updates": "unsubscribed"}
    assert ledger(app)[-1] == ("withdrawn", "web_form", "product-updates")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("application/json", '{"List-Unsubscribe": "One-Click"}'), ("text/plain", "x")],
)
def test_one_click_with_another_content_type_is_415(
    app: Flask,
    client: FlaskClient,
    smtp_server: SMTPServer,
    confirmed: None,
    content_type: str,
    body: str,
) -> None:
    header = welcome_mail(smtp_server)["List-Unsubscribe"]  # type: ignore[index]
    path = header.strip("<>").removeprefix("http://localhost")
    response = client.post(path, data=body, content_type=content_type)
    assert response.status_code == 415
    assert subscribed(app) == {"product-updates": "confirmed"}


def test_replayed_confirmation_is_a_friendly_409(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    subscribe(client)
    path = confirmation_link(app, smtp_server)
    assert confirm(client, path) == 200
    token = csrf_token(client, "/subscribe")
    replay = client.post(path, data={"csrf_token": token})
    assert replay.status_code == 409
    assert "al bevestigd" in replay.get_data(as_text=True)
    assert client.get(path).status_code == 200  # the page still opens, with its button


@pytest.mark.parametrize("target", ["/subscribe/confirm/", "/unsubscribe/", "/preferences/"])
def test_tampered_links_get_a_friendly_400(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, target: str
) -> None:
    subscribe(client)
    path = confirmation_link(app, smtp_server)
    token = path.rsplit("/", 1)[1]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for attempt in (tampered, "not-a-token", token + "x"):
        response = client.get(target + attempt)
        assert response.status_code == 400, (target, attempt)
        html = response.get_data(as_text=True)
        assert "Deze link is niet geldig" in html
        assert "Traceback" not in html


def test_wrong_purpose_tokens_are_refused(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, confirmed: None
) -> None:
    with app.app_context():
        pass
    mails = smtp_server.to(ADDRESS)
    confirm_path = link_in(mails[0], "/subscribe/confirm/")
    confirm_token = confirm_path.rsplit("/", 1)[1]
    unsubscribe_path = link_in(welcome_mail(smtp_server), "/unsubscribe/")  # type: ignore[arg-type]
    unsubscribe_token = unsubscribe_path.rsplit("/", 1)[1]

    mail_client = app.test_client(use_cookies=False)
    assert mail_client.post(f"/unsubscribe/{confirm_token}").status_code == 400
    assert client.get(f"/subscribe/confirm/{unsubscribe_token}").status_code == 400
    assert client.get(f"/preferences/{confirm_token}").status_code == 400
    assert subscribed(app) == {"product-updates": "confirmed"}


def test_expired_confirmation_offers_a_new_link(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    eight_days_ago = time.time() - 8 * 86400
    with monkeypatch.context() as patched:
        patched.setattr("itsdangerous.timed.time.time", lambda: eight_days_ago)
        subscribe(client)
        deliver(app)
    old_path = link_in(smtp_server.to(ADDRESS)[-1], "/subscribe/confirm/")
    page = client.get(old_path)
    assert page.status_code == 410
    assert "verlopen" in page.get_data(as_text=True)
    token = csrf_token(client, "/subscribe")  # the 410 page's button carries the same token
    assert client.post(old_path, data={"csrf_token": token}).status_code == 200
    assert subscribed(app) == {"product-updates": "pending"}
    new_path = confirmation_link(app, smtp_server)
    assert new_path != old_path
    assert confirm(client, new_path) == 200
    assert subscribed(app) == {"product-updates": "confirmed"}


def _answer(
    client: FlaskClient, url: str, data: dict[str, object]
) -> tuple[int, str, dict[str, str]]:
    response = post_form(client, url, data)
    # The rate-limit headers count the requester's own posts, whatever the address.
    headers = {
        k: v
        for k, v in response.headers.items()
        if not k.startswith("X-RateLimit") and k != "Retry-After"
    }
    return response.status_code, without_csrf(response.get_data(as_text=True)), headers


def test_subscribe_answers_the_same_for_known_and_unknown_addresses(
    app: Flask, smtp_server: SMTPServer, confirmed: None
) -> None:
    pending = "pending@example.be"
    subscribe(app.test_client(), pending)
    answers = [
        _answer(app.test_client(), "/subscribe", {"email": email, "topics": "product-updates"})
        for email in ("new@example.be", pending, ADDRESS)
    ]
    assert answers[0] == answers[1] == answers[2]
    assert is_check_mail_page(*answers[0][:2]), answers[0][:2]
    deliver(app)
    already = [m for m in smtp_server.to(ADDRESS) if "al ingeschreven" in str(m["Subject"])]
    assert len(already) == 1, "the known subscriber is told by mail, not on the page"


def test_preferences_request_answers_the_same_for_known_and_unknown(
    app: Flask, smtp_server: SMTPServer, confirmed: None
) -> None:
    known = _answer(app.test_client(), "/preferences", {"email": ADDRESS})
    unknown = _answer(app.test_client(), "/preferences", {"email": "nobody@example.be"})
    assert known == unknown
    assert is_check_mail_page(*known[:2]), known[:2]
    deliver(app)
    assert smtp_server.to("nobody@example.be") == []
    assert len([m for m in smtp_server.to(ADDRESS) if "beheren" in str(m["Subject"])]) == 1


def test_fourth_confirmation_request_in_an_hour_sends_nothing(
    app: Flask, smtp_server: SMTPServer
) -> None:
    answers = [
        _answer(app.test_client(), "/subscribe", {"email": ADDRESS, "topics": "service-news"})
        for _ in range(4)
    ]
    assert answers[3] == answers[0]
    deliver(app)
    assert len(smtp_server.to(ADDRESS)) == 3


def test_preferences_links_are_throttled_too(
    app: Flask, smtp_server: SMTPServer, confirmed: None
) -> None:
    smtp_server.handler.clear()
    for _ in range(4):
        _answer(app.test_client(), "/preferences", {"email": ADDRESS})
    deliver(app)
    assert len(smtp_server.to(ADDRESS)) == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": ADDRESS, "topics": "no-such-topic"}, "geen van de aangeboden mogelijkheden"),
        ({"email": ADDRESS}, "Kies minstens één nieuwsbrief"),
        ({"email": "not-an-address", "topics": "service-news"}, "geldig e-mailadres"),
        ({"email": ADDRESS, "topics": "service-news", "name": "A\r\nBcc: x@y.z"}, "één regel"),
    ],
)
def test_bad_subscribe_input_is_a_400_with_a_message(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, data: dict[str, str], message: str
) -> None:
    response = post_form(client, "/subscribe", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert subscribed(app) == {}
    assert ledger(app) == []


def test_subscribe_honeypot_stores_nothing(app: Flask, client: FlaskClient) -> None:
    response = post_form(
        client, "/subscribe", {"email": ADDRESS, "topics": "service-news", "website": "x"}
    )
    assert response.status_code == 200
    assert subscribed(app) == {}


def test_subscribe_form_has_nothing_pre_ticked(client: FlaskClient) -> None:
    for url in ("/", "/subscribe"):
        html = client.get(url).get_data(as_text=True)
        assert 'name="topics"' in html
        assert "checked" not in html


def test_subscribe_is_rate_limited(client: FlaskClient) -> None:
    token = csrf_token(client, "/subscribe")
    statuses = [
        client.post(
            "/subscribe",
            data={"csrf_token": token, "email": f"p{n}@example.be", "topics": "service-news"},
        ).status_code
        for n in range(6)
    ]
    assert statuses == [200] * 5 + [429]


def test_contact_form_newsletter_box_starts_double_opt_in(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    post_form(client, "/contact", {**VALID, "subscribe": "y", "topics": ["service-news"]})
    email = "els.janssens@example.be"
    assert subscribed(app, email) == {"service-news": "pending"}
    path = confirmation_link(app, smtp_server, email)
    assert confirm(client, path) == 200
    assert subscribed(app, email) == {"service-news": "confirmed"}
