"""Audiences of several topics: each person once, an unsubscribe link for the topics
that reached them, limits by language and by customer status, the size shown first."""

from __future__ import annotations

import re
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp.extensions import db
from consentapp.models import ApiScope, Campaign, Contact, OutboundEmail
from consentapp.services.campaign_audience import AudienceChoice, audience
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.campaigns import CampaignError
from consentapp.services.consent import record_consent
from consentapp.services.subscriptions import withdraw
from consentapp.services.topics import topics_by_slug
from tests.builders import set_subscription
from tests.flows import start, subscriber
from tests.helpers import (
    assert_problem,
    audited,
    call,
    csrf_token,
    deliver,
    subscribed,
    text_of,
    token_for,
    visible_text,
)
from tests.services import SMTPServer

BOTH = ("service-news", "product-updates")


def readers(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> None:
    """both@ follows both topics, news@ only service news, updates@ (English) only
    product updates, none@ neither of them."""
    for email, language in (
        ("both@example.be", "nl"),
        ("news@example.be", "nl"),
        ("updates@example.be", "en"),
        ("none@example.be", "nl"),
    ):
        subscriber(app, app.test_client(), smtp_server, email, language)
    for email in ("both@example.be", "updates@example.be"):
        set_subscription(app, email, "product-updates", "confirmed")
    for email in ("updates@example.be", "none@example.be"):
        set_subscription(app, email, "service-news", "unsubscribed")
    set_subscription(app, "none@example.be", "company-news", "confirmed")
    smtp_server.handler.clear()


def draft(app: Flask, *slugs: str, language: str | None = None, customers: bool = False) -> str:
    with app.app_context():
        topics = {topic.slug: topic for topic in topics_by_slug(slugs)}
        choice = AudienceChoice(tuple(topics[s] for s in slugs), language, customers)
        campaign = create_campaign(choice, "Nieuws", "Tekst", "News", "Text", None)
        return campaign.public_id


def campaign_of(public_id: str) -> Campaign:
    """The campaign, read in the app context the caller holds."""
    campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
    assert campaign is not None
    return campaign


def newsletters(smtp_server: SMTPServer) -> dict[str, list[EmailMessage]]:
    found: dict[str, list[EmailMessage]] = {}
    for message in smtp_server.handler.messages:
        if message["List-Id"]:
            found.setdefault(str(message["To"]), []).append(message)
    return found


def one_click(app: Flask, message: EmailMessage) -> None:
    link = str(message["List-Unsubscribe"]).strip("<>").removeprefix("http://localhost")
    answer = app.test_client(use_cookies=False).post(link, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200


def test_several_topics_reach_each_person_once_with_a_link_for_their_own_topics(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    readers(app, client, smtp_server)
    public_id = draft(app, *BOTH)
    with app.app_context():
        campaign = campaign_of(public_id)
        assert [t.slug for t in campaign.all_topics] == list(BOTH)
        assert audience(campaign).by_language == {"nl": 2, "en": 1}
    start(app, public_id, batch=1)
    deliver(app)
    mails = newsletters(smtp_server)
    assert sorted(mails) == ["both@example.be", "news@example.be", "updates@example.be"]
    assert all(len(got) == 1 for got in mails.values()), "each person once"
    assert mails["both@example.be"][0]["List-Id"].startswith("Service news <service-news.")
    assert "voor Nieuws over onze diensten en Productupdates." in text_of(
        mails["both@example.be"][0]
    )
    assert "subscribed to Product updates at" in text_of(mails["updates@example.be"][0])
    one_click(app, mails["news@example.be"][0])
    assert subscribed(app, "news@example.be")["service-news"] == "unsubscribed"
    one_click(app, mails["both@example.be"][0])
    assert subscribed(app, "both@example.be") == {
        "service-news": "unsubscribed",
        "product-updates": "unsubscribed",
    }, "the link leaves every topic it reached the person through"
    one_click(app, mails["updates@example.be"][0])
    assert subscribed(app, "updates@example.be")["product-updates"] == "unsubscribed"
    with app.app_context():
        from consentapp.services.campaigns import report

        campaign = campaign_of(public_id)
        assert campaign.recipients == 3
        assert report(campaign).unsubscribes == 3, "two topics left with one click count once"


def test_the_mail_goes_while_one_of_the_campaigns_topics_still_holds(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    readers(app, client, smtp_server)
    start(app, draft(app, *BOTH))
    with app.app_context():
        both = db.session.scalar(sa.select(Contact).where(Contact.email == "both@example.be"))
        updates = db.session.scalar(sa.select(Contact).where(Contact.email == "updates@example.be"))
        assert both is not None and updates is not None
        withdraw(both, ["service-news"], "web_form", None, "nl")
        withdraw(updates, ["product-updates"], "web_form", None, "en")
        db.session.commit()
    report = deliver(app)
    assert report.cancelled == 1 and report.sent == 2
    assert sorted(newsletters(smtp_server)) == ["both@example.be", "news@example.be"]


def test_a_mail_waits_on_the_topics_that_reached_the_person(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    """news@ was reached through service news alone. Joining product updates (also in
    the campaign) and leaving service news before the mail goes cancels it: its footer
    and one-click link name only the topic left. A mail queued before the reached
    topics were kept falls back to all the campaign's topics."""
    readers(app, client, smtp_server)
    start(app, draft(app, *BOTH))
    set_subscription(app, "news@example.be", "product-updates", "confirmed")
    set_subscription(app, "updates@example.be", "service-news", "confirmed")
    with app.app_context():
        ids = {topic.slug: topic.id for topic in topics_by_slug(BOTH)}
        mails = sa.select(OutboundEmail.to_address, OutboundEmail.reached_topics)
        rows = db.session.execute(mails.where(OutboundEmail.campaign_id.is_not(None)))
        reached = {address: topics for address, topics in rows}
        assert reached == {
            "both@example.be": [ids["service-news"], ids["product-updates"]],
            "news@example.be": [ids["service-news"]],
            "updates@example.be": [ids["product-updates"]],
        }
        db.session.execute(
            sa.update(OutboundEmail)
            .where(OutboundEmail.to_address == "updates@example.be")
            .values(reached_topics=None)
        )
        for email, slug in (
            ("news@example.be", "service-news"),
            ("updates@example.be", "product-updates"),
        ):
            contact = db.session.scalar(sa.select(Contact).where(Contact.email == email))
            assert contact is not None
            withdraw(contact, [slug], "web_form", None, contact.language)
        db.session.commit()
    report = deliver(app)
    assert report.cancelled == 1 and report.sent == 2
    assert sorted(newsletters(smtp_server)) == ["both@example.be", "updates@example.be"]


def test_an_audience_limited_by_language_or_to_customers(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    readers(app, client, smtp_server)
    with app.app_context():
        news = db.session.scalar(sa.select(Contact).where(Contact.email == "news@example.be"))
        assert news is not None
        news.last_invoice_on = date(2026, 11, 2)
        updates = db.session.scalar(sa.select(Contact).where(Contact.email == "updates@example.be"))
        assert updates is not None
        # A signed agreement recorded for someone who first came through the web form.
        record_consent(
            contact=updates, purpose="contact", action="given", channel="agreement", notice=None
        )
        db.session.commit()
    english = draft(app, *BOTH, language="en")
    customers = draft(app, *BOTH, customers=True)
    with app.app_context():
        for public_id, expected in ((english, {"nl": 0, "en": 1}), (customers, {"nl": 1, "en": 1})):
            campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
            assert campaign is not None and audience(campaign).by_language == expected
    start(app, english)
    start(app, customers)
    deliver(app)
    mails = newsletters(smtp_server)
    assert sorted(mails) == ["news@example.be", "updates@example.be"]
    assert len(mails["updates@example.be"]) == 2, "English reader and customer: both"


def test_a_draft_needs_a_topic_and_a_language_we_write_in(app: Flask) -> None:
    with app.app_context():
        [topic] = topics_by_slug(["service-news"])
        for choice in (AudienceChoice(()), AudienceChoice((topic,), "fr")):
            try:
                create_campaign(choice, "Nieuws", "Tekst", "", "", None)
            except CampaignError:
                continue
            raise AssertionError(f"{choice} was accepted")
        assert db.session.scalars(sa.select(Campaign)).all() == []


def test_staff_choose_the_audience_and_see_its_size_before_sending(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, admin_client: FlaskClient
) -> None:
    readers(app, client, smtp_server)
    admin_client.get("/staff/?lang=en")
    form = {
        "csrf_token": csrf_token(admin_client, "/staff/campaigns/new"),
        "topic": "service-news",
        "more_topics": ["product-updates", "service-news"],
        "audience_language": "nl",
        "subject_nl": "Nieuws",
        "body_nl": "Tekst",
    }
    created = admin_client.post("/staff/campaigns/new", data=form)
    assert created.status_code == 302, created.get_data(as_text=True)
    page = visible_text(admin_client.get(created.headers["Location"]).get_data(as_text=True))
    assert "Newsletters: Service news and Product updates · only subscribers who read" in page
    assert "Goes to 2 subscribers" in page
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None and campaign.audience_language == "nl"
        path = f"/staff/campaigns/{campaign.public_id}"
    [entry] = audited(app, "campaign.create")
    assert entry.details == {"topic": "service-news", "topics": list(BOTH), "language": "nl"}
    edit = admin_client.get(f"{path}/edit").get_data(as_text=True)
    ticked = re.findall(r'<input checked id="more_topics-\d"[^>]*value="([a-z-]+)"', edit)
    assert ticked == ["product-updates"], "the edit form shows the audience as it is"
    form |= {"csrf_token": csrf_token(admin_client, f"{path}/edit"), "more_topics": []}
    form |= {"audience_language": "", "customers_only": "y", "topic": "product-updates"}
    assert admin_client.post(f"{path}/edit", data=form).status_code == 302
    [change] = audited(app, "campaign.edit")
    assert change.details is not None
    assert sorted(change.details["fields"]) == ["customers_only", "language", "topic", "topics"]
    assert change.details["topic"] == "product-updates" and change.details["customers_only"]
    with app.app_context():
        edited = campaign_of(path.rsplit("/", 1)[1])
        assert change.details["revision"] == edited.revision, "the fingerprint of what is stored"
    page = visible_text(admin_client.get(path).get_data(as_text=True))
    assert "Newsletter: Product updates · only customers" in page
    assert "Goes to 0 subscribers" in page


def test_send_campaign_takes_topic_more_than_once(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    readers(app, client, smtp_server)
    body = tmp_path / "body.md"
    body.write_text("Tekst", encoding="utf-8")
    runner: FlaskCliRunner = app.test_cli_runner()
    args = ["send-campaign", "--subject", "Nieuws", "--body", str(body)]
    sent = runner.invoke(args=[*args, "--topic", BOTH[0], "--topic", BOTH[1]])
    assert sent.exit_code == 0, sent.output
    assert "Goes to 3 people now." in sent.stderr
    with app.app_context():
        campaign = campaign_of(sent.stdout.strip())
        assert [t.slug for t in campaign.all_topics] == list(BOTH)
    narrowed = runner.invoke(
        args=[*args, "--topic", BOTH[1], "--language", "en", "--customers-only"]
    )
    assert narrowed.exit_code == 0 and "Goes to 0 people now." in narrowed.stderr
    unknown = runner.invoke(args=[*args, "--topic", BOTH[0], "--topic", "nope"])
    assert unknown.exit_code == 2 and "nope" in unknown.output
    with app.app_context():
        assert len(db.session.scalars(sa.select(Campaign)).all()) == 2


def test_the_api_takes_more_topics_a_language_and_customers_only(
    app: Flask, client: FlaskClient
) -> None:
    secret = token_for(app, ApiScope.ADMIN, ApiScope.CAMPAIGNS_READ)
    body = {
        "topic": "product-updates",
        "more_topics": ["service-news"],
        "language": "en",
        "customers_only": True,
        "subject_nl": "Nieuws",
        "body_nl": "Tekst",
    }
    made = call(client, secret, "/api/v1/campaigns", method="POST", json=body)
    assert made.status_code == 201, made.get_data(as_text=True)
    answer = made.get_json()
    assert answer["topics"] == ["product-updates", "service-news"]
    assert answer["language"] == "en" and answer["customers_only"] is True
    listed = call(client, secret, "/api/v1/campaigns").get_json()["items"]
    assert listed[0]["topics"] == answer["topics"]
    for wrong, field in (
        ({"more_topics": ["nope"]}, "more_topics"),
        ({"language": "fr"}, "language"),
        ({"more_topics": "service-news"}, "more_topics"),
    ):
        problem = assert_problem(
            call(client, secret, "/api/v1/campaigns", method="POST", json=body | wrong), 422
        )
        assert field in str(problem), problem


def test_the_archive_lists_it_under_each_of_its_topics(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    from consentapp.services.archive import set_in_archive

    readers(app, client, smtp_server)
    public_id = draft(app, *BOTH)
    with app.app_context():
        campaign = campaign_of(public_id)
        set_in_archive(campaign, True, None)
        db.session.commit()
    start(app, public_id)
    deliver(app)
    with app.app_context():
        from consentapp.services.campaign_sending import run_due_campaigns

        run_due_campaigns()
    for slug in BOTH:
        feed = client.get(f"/archive/{slug}.atom").get_data(as_text=True)
        assert public_id in feed, slug
        assert client.get(f"/archive/{slug}/{public_id}").status_code == 200
    assert client.get(f"/archive/company-news/{public_id}").status_code == 404
