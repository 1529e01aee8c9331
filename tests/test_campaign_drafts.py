"""A draft before it goes out: who it goes to, changing it, the English text that is
missing, and the confirmation that sending and cancelling ask for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import Campaign, CampaignStatus, Contact, Topic, utcnow
from consentapp.services.campaign_drafts import create_campaign, edit_campaign
from consentapp.services.campaigns import CampaignError, schedule
from tests.builders import make_campaign
from tests.flows import REVISION, ask_to_send, staff_send, start
from tests.helpers import CSRF, audited, csrf_token, deliver, text_of, visible_text
from tests.services import SMTPServer

pytestmark = pytest.mark.usefixtures("audience")


def page_of(client: FlaskClient, public_id: str) -> str:
    return client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)


def stored(app: Flask, public_id: str) -> Campaign:
    with app.app_context():
        found = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert found is not None
        db.session.expunge(found)
        return found


@pytest.fixture
def english(admin_client: FlaskClient) -> FlaskClient:
    admin_client.get("/staff/?lang=en")
    return admin_client


def test_a_draft_names_its_newsletter_and_counts_its_audience_as_the_sender_does(
    app: Flask, english: FlaskClient
) -> None:
    public_id = make_campaign(app)
    text = visible_text(page_of(english, public_id))
    assert "Newsletter: Service news." in text
    # Two confirmed readers; the pending one and the one who left are not counted.
    assert "Goes to 2 subscribers (NL 1, EN 1)." in text
    with app.app_context():
        bounced = db.session.scalar(sa.select(Contact).where(Contact.email == "nl@example.be"))
        assert bounced is not None
        bounced.undeliverable_at = utcnow()
        db.session.commit()
    assert "Goes to 1 subscriber (NL 0, EN 1)." in visible_text(page_of(english, public_id))
    start(app, public_id)
    assert stored(app, public_id).recipients == 1, "the count is the sender's count"


def test_the_count_is_in_dutch_on_a_dutch_page(app: Flask, admin_client: FlaskClient) -> None:
    admin_client.get("/staff/?lang=nl")
    text = visible_text(page_of(admin_client, make_campaign(app)))
    assert "Gaat naar 2 abonnees (NL 1, EN 1)." in text


def edit(client: FlaskClient, public_id: str, **changes: str) -> tuple[int, str]:
    path = f"/staff/campaigns/{public_id}/edit"
    data = {
        "csrf_token": csrf_token(client, f"/staff/campaigns/{public_id}"),
        "topic": "service-news",
        "subject_nl": "Onderhoud zaterdag",
        "body_nl": "Zaterdag is er **onderhoud** aan de servers.",
        "subject_en": "Maintenance on Saturday",
        "body_en": "On Saturday the servers get **maintenance**.",
    } | changes
    response = client.post(path, data=data, follow_redirects=True)
    return response.status_code, visible_text(response.get_data(as_text=True))


def test_a_draft_can_be_changed_until_it_is_scheduled(app: Flask, english: FlaskClient) -> None:
    public_id = make_campaign(app)
    form = english.get(f"/staff/campaigns/{public_id}/edit").get_data(as_text=True)
    assert 'value="Maintenance on Saturday"' in form, "the form shows what is there"
    status, text = edit(english, public_id, subject_en="Servers down on Saturday")
    assert (status, "Changes saved." in text) == (200, True)
    assert "Servers down on Saturday" in text
    [entry] = audited(app, "campaign.edit")
    assert entry.details is not None and entry.details["fields"] == ["body_nl", "subject_en"]
    assert entry.details["revision"] == stored(app, public_id).revision
    status, text = edit(english, public_id, subject_en="Servers down on Saturday")
    assert "Nothing was changed." in text
    assert len(audited(app, "campaign.edit")) == 1, "no change, no audit entry"

    assert staff_send(english, f"/staff/campaigns/{public_id}").status_code == 302
    refused = english.get(f"/staff/campaigns/{public_id}/edit", follow_redirects=True)
    assert "not scheduled yet can be changed" in refused.get_data(as_text=True)
    # A form left open while the admin approved: refused, and the typed text stays.
    status, text = edit(english, public_id, subject_en="Too late", body_en="Typed *here*")
    assert (status, "Typed *here*" in text) == (409, True)
    assert "not scheduled yet can be changed" in text
    assert stored(app, public_id).subject_en == "Servers down on Saturday"


def test_a_change_that_breaks_a_rule_is_shown_next_to_the_field_and_keeps_the_input(
    app: Flask, english: FlaskClient
) -> None:
    public_id = make_campaign(app)
    status, text = edit(english, public_id, subject_nl="", body_en="Kept *as typed*")
    assert status == 400
    assert "Kept *as typed*" in text
    assert stored(app, public_id).subject_nl == "Onderhoud zaterdag"


def test_changing_a_submitted_one_takes_it_back_to_draft(
    app: Flask, staff_client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    """What an admin approves is always what was submitted: a change by anyone, the
    writer or someone else, means submitting again."""
    public_id = make_campaign(app)
    path = f"/staff/campaigns/{public_id}"
    staff_client.post(f"{path}/submit", data={"csrf_token": csrf_token(staff_client, path)})
    assert stored(app, public_id).status == CampaignStatus.SUBMITTED
    assert edit(admin_client, public_id, subject_en="Updated")[0] == 200
    found = stored(app, public_id)
    assert (found.status, found.submitted_by_id) == (CampaignStatus.DRAFT, None)
    assert found.subject_en == "Updated"
    [withdrawn] = audited(app, "campaign.withdraw")
    assert withdrawn.actor_id == admin_id


def without_english(app: Flask) -> str:
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        assert topic is not None
        return create_campaign(
            topic, "Alleen Nederlands", "Enkel in het **Nederlands**.", "", "  ", None
        ).public_id


def test_a_missing_english_text_is_said_where_it_matters_and_is_the_truth(
    app: Flask, english: FlaskClient, smtp_server: SMTPServer
) -> None:
    public_id = without_english(app)
    text = visible_text(page_of(english, public_id))
    assert "There is no English subject or text." in text
    assert "The 1 English-speaking subscriber gets the Dutch version." in text
    assert "No English text: English-speaking subscribers get what is shown here" in text
    asked = ask_to_send(english, f"/staff/campaigns/{public_id}")
    assert "There is no English subject or text." in visible_text(asked.get_data(as_text=True))
    start(app, public_id)
    deliver(app)
    [mail] = smtp_server.to("en@example.be")
    assert mail["Subject"] == "Alleen Nederlands", "the warning says what really happens"
    assert "Enkel in het Nederlands." in text_of(mail), "a blank English text is no text"


def test_a_whole_english_version_gets_no_warning(app: Flask, english: FlaskClient) -> None:
    assert "There is no English" not in page_of(english, make_campaign(app))


def test_send_asks_first_and_names_what_it_will_do(app: Flask, english: FlaskClient) -> None:
    public_id = make_campaign(app)
    path = f"/staff/campaigns/{public_id}"
    asked = ask_to_send(english, path, "2030-05-02T09:30")
    text = visible_text(asked.get_data(as_text=True))
    assert asked.status_code == 200
    assert "Send this newsletter?" in text and "Onderhoud zaterdag" in text
    assert "Service news" in text and "Goes to 2 subscribers (NL 1, EN 1)." in text
    assert "9:30" in text and "Europe/Brussels" in text
    assert stored(app, public_id).status == CampaignStatus.DRAFT, "asking changes nothing"
    assert audited(app, "campaign.schedule") == []
    html = asked.get_data(as_text=True)
    assert 'name="at" value="2030-05-02T09:30"' in html, "the time entered is carried over"
    assert staff_send(english, path, "2030-05-02T09:30").status_code == 302
    found = stored(app, public_id)
    assert found.status == CampaignStatus.SCHEDULED and found.scheduled_at is not None
    scheduled = found.scheduled_at.replace(tzinfo=found.scheduled_at.tzinfo or UTC)
    assert scheduled == datetime(2030, 5, 2, 7, 30, tzinfo=UTC)


def test_an_approval_of_a_text_changed_after_the_admin_read_it_is_refused(
    app: Flask, english: FlaskClient, staff_client: FlaskClient
) -> None:
    """The send form carries the fingerprint of the text its page showed: a change
    made while the admin read it, or while the confirmation was open, is refused."""
    public_id = make_campaign(app)
    path = f"/staff/campaigns/{public_id}"
    page = english.get(path).get_data(as_text=True)
    token, read = CSRF.search(page), REVISION.search(page)
    assert token is not None and read is not None
    edit(staff_client, public_id, body_nl="Een andere tekst.")
    data = {"csrf_token": token.group(1), "at": "", "revision": read.group(1)}
    asked = english.post(f"{path}/send", data=data, follow_redirects=True)
    assert "was changed after you opened it" in asked.get_data(as_text=True)
    assert "Send this newsletter?" not in asked.get_data(as_text=True)

    confirmation = ask_to_send(english, path).get_data(as_text=True)  # read again
    confirmed = REVISION.search(confirmation)
    assert confirmed is not None and confirmed.group(1) != read.group(1)
    edit(staff_client, public_id, body_nl="Nog een andere tekst.")
    data |= {"confirmed": "1", "revision": confirmed.group(1)}
    answer = english.post(f"{path}/send", data=data, follow_redirects=True)
    assert "was changed after you opened it" in answer.get_data(as_text=True)
    assert stored(app, public_id).status == CampaignStatus.DRAFT
    assert audited(app, "campaign.schedule") == []


def test_a_step_checks_the_state_another_request_just_committed(app: Flask) -> None:
    """The check reads the campaign under its row lock, not the copy loaded earlier."""
    public_id = make_campaign(app)
    with app.app_context():
        loaded = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        assert loaded is not None
        read = loaded.revision
        with db.engine.begin() as other:  # the admin's approval, from another request
            other.execute(
                sa.update(Campaign)
                .where(Campaign.public_id == public_id)
                .values(body_nl="Changed meanwhile.")
            )
        with pytest.raises(CampaignError, match="changed after you opened it"):
            schedule(loaded, None, None, read=read)
        db.session.rollback()
        with db.engine.begin() as other:
            other.execute(
                sa.update(Campaign)
                .where(Campaign.public_id == public_id)
                .values(status=CampaignStatus.SCHEDULED)
            )
        topic = loaded.topic
        with pytest.raises(CampaignError, match="not scheduled yet"):
            edit_campaign(loaded, topic, "Te laat", "Tekst", "", "", None)
        db.session.rollback()
    assert stored(app, public_id).subject_nl == "Onderhoud zaterdag"


def cancel(client: FlaskClient, public_id: str, confirmed: bool) -> tuple[int, str]:
    path = f"/staff/campaigns/{public_id}"
    data = {"csrf_token": csrf_token(client, path)} | ({"confirmed": "1"} if confirmed else {})
    response = client.post(f"{path}/cancel", data=data, follow_redirects=True)
    return response.status_code, visible_text(response.get_data(as_text=True))


def test_cancelling_a_draft_asks_first(app: Flask, english: FlaskClient) -> None:
    public_id = make_campaign(app)
    status, text = cancel(english, public_id, confirmed=False)
    assert status == 200 and "Cancel this newsletter?" in text
    assert "Nothing has been sent." in text
    assert stored(app, public_id).status == CampaignStatus.DRAFT
    status, text = cancel(english, public_id, confirmed=True)
    assert stored(app, public_id).status == CampaignStatus.CANCELLED
    status, text = cancel(english, public_id, confirmed=False)
    assert "finished already" in text, "no confirmation for what cannot be done"


def test_cancelling_a_scheduled_one_says_nothing_went_out(app: Flask, english: FlaskClient) -> None:
    public_id = make_campaign(app)
    assert (
        staff_send(english, f"/staff/campaigns/{public_id}", "2030-05-02T09:30").status_code == 302
    )
    text = cancel(english, public_id, confirmed=False)[1]
    assert "Nothing has been sent." in text and "gone out already" not in text


def test_cancelling_while_sending_says_what_went_and_what_will_not(
    app: Flask, english: FlaskClient, smtp_server: SMTPServer
) -> None:
    public_id = make_campaign(app)
    start(app, public_id)  # two queued, none delivered yet
    text = cancel(english, public_id, confirmed=False)[1]
    assert "0 mails have gone out already" in text
    assert "The 2 mails still waiting will not be sent" in text
    assert "2 mails were not sent" in cancel(english, public_id, confirmed=True)[1]
    deliver(app)
    assert smtp_server.to("nl@example.be") == []


def test_a_campaign_already_scheduled_gets_no_send_confirmation(
    app: Flask, english: FlaskClient
) -> None:
    public_id = make_campaign(app)
    path = f"/staff/campaigns/{public_id}"
    assert staff_send(english, path, "2030-05-02T09:30").status_code == 302
    data = {"csrf_token": csrf_token(english, path), "revision": stored(app, public_id).revision}
    again = english.post(f"{path}/send", data=data | {"at": ""})
    assert again.status_code == 302
    follow = english.get(path).get_data(as_text=True)
    assert "no longer a draft" in follow


def test_a_refused_step_says_why_in_the_page_language(
    app: Flask, admin_client: FlaskClient
) -> None:
    admin_client.get("/staff/?lang=nl")
    public_id = make_campaign(app)
    path = f"/staff/campaigns/{public_id}"
    for _ in range(2):  # the second press finds it submitted already
        answer = admin_client.post(
            f"{path}/submit",
            data={"csrf_token": csrf_token(admin_client, path)},
            follow_redirects=True,
        )
    assert "Alleen een ontwerp kan ter goedkeuring voorgelegd worden." in answer.get_data(
        as_text=True
    )
