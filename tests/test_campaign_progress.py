"""A campaign's progress: the figures at each stage of a real sending, their rate and
expected end, the JSON the page polls, the progress bar, and "queued, starting"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import Campaign, Contact, OutboundEmail, utcnow
from consentapp.services import campaign_sending
from consentapp.services import campaigns as service
from consentapp.services.campaign_progress import Progress, progress
from consentapp.services.subscriptions import withdraw
from tests.builders import bulk_subscribers, make_campaign
from tests.flows import staff_send, start
from tests.helpers import csrf_token, deliver
from tests.services import SMTPServer

SCRIPT = "js/campaign-progress.js"


def figures(app: Flask, public_id: str, now: datetime | None = None) -> Progress:
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        return progress(campaign, now)


def schedule(app: Flask, public_id: str, at: datetime | None = None) -> None:
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        service.schedule(campaign, at, None)


def run_campaigns(app: Flask, batch: int = 1000, now: datetime | None = None) -> int:
    with app.app_context():
        return campaign_sending.run_due_campaigns(now=now, batch=batch)


def finished_figures(found: Progress) -> tuple[int, int, int, int, int, int]:
    return (found.total, found.sent, found.failed, found.not_sent, found.remaining, found.percent)


def test_the_figures_follow_a_real_campaign_stage_by_stage(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    bulk_subscribers(app, 3)  # with nl@ and en@: five readers
    public_id = make_campaign(app)
    draft = figures(app, public_id)
    assert (draft.status, draft.total, draft.sent, draft.percent) == ("draft", 5, 0, 0)
    assert draft.started_at is None and draft.rate is None and not draft.starting

    schedule(app, public_id)
    assert figures(app, public_id).starting, "sent now: queued, starting"

    assert run_campaigns(app, batch=2) == 2
    queueing = figures(app, public_id)
    assert queueing.status == "sending" and queueing.queueing and not queueing.starting
    assert queueing.total == 5, "while queueing, the total is the audience"
    assert queueing.started_at is not None and queueing.remaining == 5

    with app.app_context():  # one reader leaves before the rest is queued
        leaving = db.session.scalar(sa.select(Contact).where(Contact.email == "reader2@example.be"))
        assert leaving is not None
        withdraw(leaving, None, "staff", None, "nl")
        db.session.commit()
    while run_campaigns(app, batch=2):
        pass
    queued = figures(app, public_id)
    assert not queued.queueing and queued.total == 4

    assert deliver(app, limit=2).sent == 2
    halfway = figures(app, public_id)
    assert finished_figures(halfway) == (4, 2, 0, 0, 2, 50)
    assert halfway.rate is not None and halfway.rate > 0
    assert halfway.expected_end is not None and halfway.finished_at is None

    with app.app_context():  # withdrawn after queueing: not sent
        leaving = db.session.scalar(sa.select(Contact).where(Contact.email == "reader1@example.be"))
        assert leaving is not None
        withdraw(leaving, None, "staff", None, "nl")
        db.session.commit()
    smtp_server.handler.reject.add("reader0@example.be")
    deliver(app)
    run_campaigns(app)
    done = figures(app, public_id)
    assert done.status == "sent"
    sent = sum(1 for m in smtp_server.messages if m["List-Id"])
    assert finished_figures(done) == (4, sent, 4 - sent - 1, 1, 0, 100)
    assert done.failed == 1 and done.sent == 2
    assert done.finished_at is not None and done.expected_end is None and done.rate is not None


def test_rate_and_expected_end_come_from_the_start_and_the_given_moment(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    bulk_subscribers(app, 2)
    public_id = make_campaign(app)
    started = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    schedule(app, public_id, started)
    assert not figures(app, public_id, started - timedelta(minutes=1)).starting
    assert figures(app, public_id, started).starting
    run_campaigns(app, now=started)
    deliver(app, limit=1)
    assert figures(app, public_id, started).rate is None, "no time has passed yet"
    assert deliver(app, limit=1).sent == 1
    two_minutes = figures(app, public_id, started + timedelta(minutes=2))
    assert two_minutes.started_at == started
    assert two_minutes.rate == pytest.approx(1.0)  # 2 mails in 2 minutes
    assert two_minutes.remaining == 2
    assert two_minutes.expected_end == started + timedelta(minutes=4)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign))
        assert campaign is not None
        service.pause(campaign, None)
    paused = figures(app, public_id, started + timedelta(minutes=2))
    assert paused.status == "paused" and paused.expected_end is None, "unknown while paused"


def get_progress(client: FlaskClient, public_id: str) -> dict[str, object]:
    response = client.get(f"/staff/campaigns/{public_id}/progress")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert isinstance(data, dict)
    return data


def test_the_progress_json_gives_figures_and_sentences_in_the_page_language(
    app: Flask, smtp_server: SMTPServer, audience: None, staff_client: FlaskClient
) -> None:
    bulk_subscribers(app, 1998)
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app, limit=1000)
    data = get_progress(staff_client, public_id)
    assert {k: data[k] for k in ("status", "total", "sent", "failed", "not_sent", "remaining")} == {
        "status": "sending",
        "total": 2000,
        "sent": 1000,
        "failed": 0,
        "not_sent": 0,
        "remaining": 1000,
    }
    assert data["percent"] == 50 and data["live"] is True and data["starting"] is False
    assert isinstance(data["rate"], float) and data["started_at"] and data["expected_end"]
    assert data["finished_at"] is None
    texts = data["texts"]
    assert isinstance(texts, dict)
    assert texts["summary"] == "1.000 van 2.000 verstuurd (50\u00a0%)"
    assert texts["status"] == "wordt verstuurd"
    assert texts["rate"].endswith("mails per minuut")
    assert texts["expected"].startswith("verwacht rond ")
    assert texts["started"].startswith("Gestart op ")
    assert texts["failed"] == "0 mislukt"

    staff_client.get("/staff/?lang=en")
    english = get_progress(staff_client, public_id)["texts"]
    assert isinstance(english, dict)
    assert english["summary"] == "1,000 of 2,000 sent (50\u00a0%)"
    assert english["expected"].startswith("expected around ")


def test_the_progress_json_needs_a_staff_login_and_a_known_campaign(
    app: Flask, client: FlaskClient, staff_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    anonymous = client.get(f"/staff/campaigns/{public_id}/progress")
    assert anonymous.status_code == 302 and "/staff/login" in anonymous.headers["Location"]
    assert staff_client.get("/staff/campaigns/nothing-like-it/progress").status_code == 404
    assert get_progress(staff_client, public_id)["status"] == "draft"


def test_polling_the_progress_does_not_keep_an_idle_session_alive(
    app: Flask, staff_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    with staff_client.session_transaction() as session:
        session["staff_seen"] = 1000.0
        app.config["STAFF_IDLE_MINUTES"] = 10**9  # not logged out by this test's clock
    get_progress(staff_client, public_id)
    with staff_client.session_transaction() as session:
        assert session["staff_seen"] == 1000.0, "the poll left the last activity as it was"
    staff_client.get(f"/staff/campaigns/{public_id}")
    with staff_client.session_transaction() as session:
        assert session["staff_seen"] > 1000.0, "opening a page is activity"


def page(client: FlaskClient, public_id: str) -> str:
    response = client.get(f"/staff/campaigns/{public_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def progress_bar(html: str) -> tuple[str, str]:
    found = re.search(r'<progress class="progress-bar"[^>]* max="(\d+)" value="(\d+)"', html)
    assert found, "the page shows a progress bar"
    return found.group(1), found.group(2)


def test_the_page_shows_the_bar_and_loads_the_script_only_while_live(
    app: Flask, smtp_server: SMTPServer, audience: None, staff_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    draft = page(staff_client, public_id)
    assert "<progress" not in draft and SCRIPT not in draft
    start(app, public_id)
    deliver(app, limit=1)
    sending = page(staff_client, public_id)
    assert progress_bar(sending) == ("2", "1")
    assert "1 van 2 verstuurd (50\u00a0%)" in sending
    assert f'src="/static/{SCRIPT}" defer' in sending
    assert f'data-progress-url="/staff/campaigns/{public_id}/progress"' in sending
    assert "aria-live" not in sending, "figures that change every few seconds are not announced"
    assert "style=" not in sending
    deliver(app)
    run_campaigns(app)
    sent = page(staff_client, public_id)
    assert progress_bar(sent) == ("2", "2")
    assert "2 van 2 verstuurd (100\u00a0%)" in sent and "Klaar op " in sent
    assert SCRIPT not in sent and "data-progress-url" not in sent


def test_right_after_send_now_the_campaign_reads_queued_starting(
    app: Flask, audience: None, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    url = f"/staff/campaigns/{public_id}"
    assert staff_send(admin_client, url).status_code == 302  # the page's own send, confirmed
    html = page(admin_client, public_id)
    assert "in de wachtrij, start zo" in html
    assert "Gaat de deur uit op" not in html
    assert ">gepland<" not in html
    assert "In de wachtrij: de verzending start zo." in html
    assert SCRIPT in html, "the page refreshes itself until the sending pass starts it"
    listing = admin_client.get("/staff/campaigns").get_data(as_text=True)
    assert "in de wachtrij, start zo" in listing and ">gepland<" not in listing
    run_campaigns(app)
    assert "in de wachtrij, start zo" not in page(admin_client, public_id)


def test_a_campaign_scheduled_later_says_when_and_to_how_many(
    app: Flask, audience: None, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    schedule(app, public_id, utcnow() + timedelta(days=2))
    html = page(admin_client, public_id)
    assert ">gepland<" in html and "Gaat de deur uit op" in html
    assert "Nog niet gestart. Zoals het nu staat, gaat ze naar 2 abonnees." in html
    assert "in de wachtrij" not in html and "<progress" not in html


def test_a_paused_campaign_says_why_in_the_page_language(
    app: Flask, smtp_server: SMTPServer, audience: None, admin_client: FlaskClient
) -> None:
    app.config["CAMPAIGN_MAX_CONSECUTIVE_FAILURES"] = 2
    smtp_server.handler.reject.update({"nl@example.be", "en@example.be"})
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app)
    html = page(admin_client, public_id)
    assert "Gepauzeerd: 2 leveringen na elkaar mislukt; controleer de mailserver." in html
    assert "2 mislukt" in html
    assert "check the mail server" not in html
    assert SCRIPT in html


def test_a_campaign_paused_by_staff_says_so_in_words(
    app: Flask, smtp_server: SMTPServer, audience: None, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    start(app, public_id)
    url = f"/staff/campaigns/{public_id}"
    admin_client.post(f"{url}/pause", data={"csrf_token": csrf_token(admin_client, url)})
    html = page(admin_client, public_id)
    assert "Gepauzeerd door een medewerker. Er gaat niets meer weg tot ze wordt hervat." in html
    assert "0 van 2 verstuurd" in html
    assert "paused by staff" not in html, "the stored reason is not shown as it is stored"


def test_a_campaign_without_recipients_is_done_when_sent(
    app: Flask, admin_client: FlaskClient
) -> None:
    public_id = make_campaign(app)  # nobody subscribes to service-news
    start(app, public_id)
    run_campaigns(app)
    done = figures(app, public_id)
    assert (done.status, done.total, done.percent, done.rate) == ("sent", 0, 100, None)
    assert progress_bar(page(admin_client, public_id)) == ("1", "1")


def move_times(app: Flask, public_id: str, started: datetime, sent: datetime) -> None:
    """The campaign started at `started`; the mails sent so far went out at `sent`."""
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        campaign.started_at = started
        db.session.execute(
            sa.update(OutboundEmail)
            .where(OutboundEmail.campaign_id == campaign.id, OutboundEmail.status == "sent")
            .values(sent_at=sent)
        )
        db.session.commit()


def test_the_rate_while_sending_is_that_of_the_last_minutes_not_since_a_pause(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    bulk_subscribers(app, 8)
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app, limit=4)
    now = utcnow().replace(microsecond=0)
    # Started eight hours ago, paused most of that time; four mails in the last 2 minutes.
    move_times(app, public_id, now - timedelta(hours=8), now - timedelta(minutes=2))
    found = figures(app, public_id, now)
    assert found.rate == pytest.approx(2.0)
    assert found.expected_end == now + timedelta(minutes=found.remaining / 2)


def test_no_expected_end_further_than_a_month_and_no_error_for_a_crawl(
    app: Flask, smtp_server: SMTPServer, audience: None, admin_client: FlaskClient
) -> None:
    bulk_subscribers(app, 1000)
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app, limit=1)
    long_ago = datetime(1900, 1, 1, tzinfo=UTC)  # one mail in more than a century
    move_times(app, public_id, long_ago, long_ago)
    assert figures(app, public_id).expected_end is None
    assert get_progress(admin_client, public_id)["expected_end"] is None
    assert admin_client.get(f"/staff/campaigns/{public_id}").status_code == 200


def test_a_cancelled_campaign_does_not_read_as_done(
    app: Flask, smtp_server: SMTPServer, audience: None, staff_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    start(app, public_id)
    deliver(app, limit=1)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        service.cancel(campaign, None)
    cancelled = page(staff_client, public_id)
    assert "1 van 2 verstuurd (50\u00a0%)" in cancelled
    assert progress_bar(cancelled) == ("2", "1"), "the bar shows what went out"


def test_a_campaign_cancelled_before_it_started_shows_no_empty_bar(
    app: Flask, staff_client: FlaskClient
) -> None:
    public_id = make_campaign(app)
    schedule(app, public_id, utcnow() + timedelta(days=3))
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert campaign is not None
        service.cancel(campaign, None)
    html = page(staff_client, public_id)
    assert "<progress" not in html and "Geannuleerd op" in html


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (1.04, "1 mail per minuut"),
        (1.4, "1,4 mails per minuut"),
        (120.0, "120 mails per minuut"),
        (0.04, "minder dan 0,1 mail per minuut"),
    ],
)
def test_the_rate_reads_in_singular_only_for_exactly_one(
    app: Flask, rate: float, text: str
) -> None:
    with app.test_request_context("/"):  # Dutch, the default
        from consentapp.staff.campaign_progress import _rate_text

        assert _rate_text(rate) == text


def test_one_subscriber_is_singular(app: Flask, staff_client: FlaskClient) -> None:
    bulk_subscribers(app, 1)
    public_id = make_campaign(app)
    schedule(app, public_id, utcnow() + timedelta(days=3))
    assert "gaat ze naar 1 abonnee." in page(staff_client, public_id)
