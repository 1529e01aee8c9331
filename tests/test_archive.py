"""A newsletter's web version ("view in browser"), and the public archive with its feeds."""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.models import Campaign, CampaignStatus, Contact, Topic
from consentapp.services import campaign_sending
from consentapp.services import campaigns as campaign_service
from consentapp.services.archive import set_in_archive
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.erasure import erase_person
from tests.builders import make_campaign
from tests.flows import start
from tests.helpers import audited, csrf_token, deliver, html_of, link_in, text_of
from tests.services import SMTPServer

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE = "Prijzen <script>alert(1)</script> & meer"


def newsletter(smtp_server: SMTPServer, email: str) -> EmailMessage:
    [mail] = [m for m in smtp_server.to(email) if m["List-Id"]]
    return mail  # type: ignore[no-any-return]


def sent(app: Flask, public_id: str) -> None:
    """Send a campaign to its audience, deliver it and close it (status `sent`)."""
    start(app, public_id)
    deliver(app)
    with app.app_context():
        campaign_sending.run_due_campaigns()
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None and campaign.status == CampaignStatus.SENT


def archived(app: Flask, public_id: str, published: bool = True) -> None:
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        set_in_archive(campaign, published, None)


def draft(app: Flask, subject: str, body: str = "Tekst", topic: str = "service-news") -> str:
    with app.app_context():
        found = db.session.scalar(sa.select(Topic).where(Topic.slug == topic))
        assert found is not None
        return create_campaign(found, subject, body, subject + " (en)", body, None).public_id


def web_link(mail: EmailMessage) -> str:
    return link_in(mail, "/newsletter/")


# The personal web version


def test_both_parts_carry_a_personal_web_version_link(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    dutch, english = (
        newsletter(smtp_server, "nl@example.be"),
        newsletter(smtp_server, "en@example.be"),
    )
    path = web_link(dutch)
    assert f'href="http://localhost{path}"' in html_of(dutch)
    assert web_link(english) != path, "each link is personal"
    assert ".invalid" not in text_of(dutch) + html_of(dutch)


def test_the_web_version_shows_the_mail_in_the_contacts_language_with_its_footer_links(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    for email, language, subject, text in (
        ("nl@example.be", "nl", "Onderhoud zaterdag", "<strong>onderhoud</strong>"),
        ("en@example.be", "en", "Maintenance on Saturday", "<strong>maintenance</strong>"),
    ):
        mail = newsletter(smtp_server, email)
        response = app.test_client().get(web_link(mail) + "?lang=nl")
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert f'<html lang="{language}">' in html, "the whole page as the mail was"
        assert f"<h1>{subject}</h1>" in html and text in html
        assert "<script>alert" not in html
        for footer in ("/unsubscribe/", "/preferences/"):
            link = re.search(f'href="http://localhost({footer}[^"]+)"', html)
            assert link, f"the page has its own {footer} link"
            assert app.test_client().get(link.group(1)).status_code == 200


def test_the_web_version_is_private_sets_no_cookie_and_is_not_indexed(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    response = app.test_client().get(web_link(newsletter(smtp_server, "nl@example.be")))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert '<meta name="robots" content="noindex' in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


def test_a_tampered_web_version_link_gets_the_link_page(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    path = web_link(newsletter(smtp_server, "nl@example.be"))
    for bad in (path[:-3] + ("abc" if not path.endswith("abc") else "xyz"), "/newsletter/x"):
        response = app.test_client().get(bad)
        assert response.status_code == 400
        assert "Deze link is niet geldig" in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"


def test_an_unsubscribe_link_is_no_web_version_link(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    token = link_in(newsletter(smtp_server, "nl@example.be"), "/unsubscribe/").split("/")[-1]
    assert app.test_client().get(f"/newsletter/{token}").status_code == 400


def test_the_web_version_dies_with_the_erased_contact(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    start(app, make_campaign(app))
    deliver(app)
    path = web_link(newsletter(smtp_server, "nl@example.be"))
    with app.app_context():
        contact = db.session.scalar(sa.select(Contact).where(Contact.email == "nl@example.be"))
        assert contact is not None
        erase_person(contact)
        db.session.commit()
    response = app.test_client().get(path)
    assert response.status_code == 400
    assert "nl@example.be" not in response.get_data(as_text=True)


# The public archive


def archive_page(client: FlaskClient, path: str = "/archive") -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def test_the_archive_lists_only_published_sent_campaigns_newest_first(
    app: Flask, audience: None
) -> None:
    first, second = draft(app, "Eerste nummer"), draft(app, "Tweede nummer")
    unpublished, scheduled = draft(app, "Niet openbaar"), draft(app, "Nog niet verstuurd")
    for public_id in (first, second, scheduled):
        archived(app, public_id)
    sent(app, first)
    sent(app, second)
    sent(app, unpublished)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == scheduled))
        assert campaign is not None
        campaign_service.schedule(campaign, campaign.created_at.replace(year=2099), None)
    html = archive_page(app.test_client())
    assert html.index("Tweede nummer") < html.index("Eerste nummer"), "newest first"
    assert "Niet openbaar" not in html and "Nog niet verstuurd" not in html
    assert f"/archive/service-news/{first}" in html
    english = archive_page(app.test_client(), "/archive?lang=en")
    assert "Eerste nummer (en)" in english
    for public_id in (unpublished, scheduled):
        assert app.test_client().get(f"/archive/service-news/{public_id}").status_code == 404


def test_a_campaign_cancelled_part_way_stays_out_of_the_archive(app: Flask, audience: None) -> None:
    public_id = draft(app, "Gestopt")
    archived(app, public_id)
    start(app, public_id)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        campaign_service.cancel(campaign, None)
    deliver(app)
    assert "Gestopt" not in archive_page(app.test_client())
    assert app.test_client().get(f"/archive/service-news/{public_id}").status_code == 404


def test_archive_pages_and_feed_hold_nothing_personal(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    public_id = make_campaign(app)
    archived(app, public_id)
    sent(app, public_id)
    mail = newsletter(smtp_server, "nl@example.be")
    personal = [link_in(mail, p).split("/")[-1] for p in ("/unsubscribe/", "/preferences/")]
    personal.append(web_link(mail).split("/")[-1])
    client = app.test_client()
    entry = archive_page(client, f"/archive/service-news/{public_id}")
    assert "<strong>onderhoud</strong>" in entry and "<script>alert" not in entry
    assert 'href="/subscribe"' in entry
    feed = client.get("/archive/service-news.atom").get_data(as_text=True)
    for page in (archive_page(client), entry, feed):
        assert "@example.be" not in page
        assert "/unsubscribe/" not in page and "/preferences/" not in page
        assert "/newsletter/" not in page
        assert not any(token in page for token in personal)


def test_the_feed_is_atom_and_escapes_a_hostile_subject(app: Flask, audience: None) -> None:
    public_id = draft(app, HOSTILE, "Lees **dit** & <script>alert(2)</script>")
    archived(app, public_id)
    sent(app, public_id)
    response = app.test_client().get("/archive/service-news.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    raw = response.get_data(as_text=True)
    assert "<script>" not in raw
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    for child in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{child}") is not None, child
    [self_link] = [link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert self_link.get("href") == "http://localhost/archive/service-news.atom"
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == HOSTILE
    assert entry.findtext(f"{ATOM}id") and entry.findtext(f"{ATOM}updated")
    link = entry.find(f"{ATOM}link")
    assert link is not None and link.get("href", "").endswith(f"/archive/service-news/{public_id}")
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert content.text is not None and "<strong>dit</strong> &amp;" in content.text
    assert "<script>" not in content.text


def test_a_topic_with_nothing_published_has_an_empty_feed_and_an_unknown_one_none(
    app: Flask,
) -> None:
    response = app.test_client().get("/archive/company-news.atom")
    assert response.status_code == 200
    feed = ET.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed" and feed.findall(f"{ATOM}entry") == []
    assert feed.findtext(f"{ATOM}updated")
    for path in (
        "/archive/no-such-topic.atom",
        "/archive/no-such-topic/x",
        "/archive/service-news/x",
    ):
        assert app.test_client().get(path).status_code == 404, path


def test_the_archive_page_links_each_topics_feed(app: Flask) -> None:
    html = archive_page(app.test_client())
    feeds = re.findall(r'<link rel="alternate" type="application/atom\+xml" href="([^"]+)"', html)
    assert "/archive/service-news.atom" in feeds and "/archive/company-news.atom" in feeds
    assert "Set-Cookie" not in app.test_client().get("/archive").headers


def count_queries(app: Flask, path: str) -> int:
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def note(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        assert app.test_client().get(path).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
    # The topics on offer come from the shared reference cache, read again when it changes.
    return len([s for s in statements if "campaigns" in s or "FROM topics WHERE" in s])


def test_archive_queries_do_not_grow_with_the_archive(app: Flask, audience: None) -> None:
    public_id = draft(app, "Een")
    archived(app, public_id)
    sent(app, public_id)
    one = count_queries(app, "/archive"), count_queries(app, "/archive/service-news.atom")
    for subject in ("Twee", "Drie", "Vier"):
        more = draft(app, subject)
        archived(app, more)
        sent(app, more)
    assert (count_queries(app, "/archive"), count_queries(app, "/archive/service-news.atom")) == one


# Publishing: the staff toggle and the command line


def toggle(client: FlaskClient, public_id: str, value: str) -> TestResponse:
    token = csrf_token(client, f"/staff/campaigns/{public_id}")
    return client.post(
        f"/staff/campaigns/{public_id}/archive", data={"csrf_token": token, "in_archive": value}
    )


def in_archive(app: Flask, public_id: str) -> bool:
    with app.app_context():
        return bool(
            db.session.scalar(sa.select(Campaign.in_archive).where(Campaign.public_id == public_id))
        )


def test_an_admin_publishes_and_withdraws_with_an_audit_row(
    app: Flask, admin_client: FlaskClient, admin_id: int, audience: None
) -> None:
    public_id = make_campaign(app)
    sent(app, public_id)
    page = admin_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert "Publiceren in het openbare archief" in page
    assert toggle(admin_client, public_id, "1").status_code == 302
    assert in_archive(app, public_id)
    assert public_id in archive_page(app.test_client())
    [entry] = audited(app, "campaign.archive")
    assert (entry.actor_id, entry.target_id) == (admin_id, public_id)
    assert toggle(admin_client, public_id, "0").status_code == 302
    assert not in_archive(app, public_id)
    assert public_id not in archive_page(app.test_client())
    assert len(audited(app, "campaign.unarchive")) == 1


def test_staff_who_cannot_send_cannot_publish(
    app: Flask, staff_client: FlaskClient, audience: None
) -> None:
    public_id = make_campaign(app)
    page = staff_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert "Publiceren in het openbare archief" not in page
    assert toggle(staff_client, public_id, "1").status_code == 403
    assert not in_archive(app, public_id)
    assert audited(app, "campaign.archive") == []


@pytest.mark.parametrize("value", ["", "yes", "2"])
def test_a_bad_toggle_value_changes_nothing(
    app: Flask, admin_client: FlaskClient, value: str
) -> None:
    public_id = make_campaign(app)
    assert toggle(admin_client, public_id, value).status_code == 400
    assert not in_archive(app, public_id)


def test_send_campaign_with_archive_publishes_it(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path, audience: None
) -> None:
    body = tmp_path / "nl.md"
    body.write_text("Tekst", encoding="utf-8")
    args = [
        "send-campaign",
        "--topic",
        "service-news",
        "--subject",
        "Openbaar",
        "--body",
        str(body),
    ]
    published = runner.invoke(args=[*args, "--archive"])
    assert published.exit_code == 0, published.output
    quiet = runner.invoke(args=[*args[:4], "Besloten", *args[5:]])
    assert quiet.exit_code == 0, quiet.output
    assert in_archive(app, published.stdout.strip())
    assert not in_archive(app, quiet.stdout.strip())
    [entry] = audited(app, "campaign.archive")
    assert entry.actor_id is None and entry.target_id == published.stdout.strip()
    with app.app_context():
        campaign_sending.run_due_campaigns()
    deliver(app)
    with app.app_context():
        campaign_sending.run_due_campaigns()
    html = archive_page(app.test_client())
    assert "Openbaar" in html and "Besloten" not in html
