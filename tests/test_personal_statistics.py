"""Personal statistics are a consent of their own (`statistics`): never pre-ticked,
confirmed like a newsletter, recorded in the ledger with the notice; only for those
who agreed are links personal and the open pixel added, and withdrawing deletes what
was recorded."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import (
    Campaign,
    ConsentEvent,
    Contact,
    LinkClickDay,
    PersonalStatistic,
    Topic,
)
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.consent import Origin
from consentapp.services.preferences import PreferencesAccess, update_topics
from consentapp.tokens import Purpose, make_token
from tests.flows import confirm, confirmation_link, start
from tests.helpers import deliver, html_of, post_form, text_of
from tests.services import SMTPServer

FAN, OTHER = "fan@example.be", "other@example.be"
BODY = "Lees [het nieuws](https://example.be/nieuws)."


def _sign_up(app: Flask, client: FlaskClient, smtp: SMTPServer, email: str, stats: bool) -> None:
    fields: dict[str, object] = {"email": email, "topics": "service-news", "language": "nl"}
    if stats:
        fields["statistics"] = "y"
    assert post_form(client, "/subscribe", fields).status_code == 200
    confirm(client, confirmation_link(app, smtp, email))
    deliver(app)


def _contact(email: str) -> Contact:
    found = db.session.scalar(sa.select(Contact).where(Contact.email == email))
    assert found is not None
    return found


def _statistics_rows(subject: str) -> list[tuple[str, int | None, str | None]]:
    rows = db.session.execute(
        sa.select(ConsentEvent.action, ConsentEvent.notice_version, ConsentEvent.notice_sha256)
        .where(ConsentEvent.subject_id == subject, ConsentEvent.purpose == "statistics")
        .order_by(ConsentEvent.id)
    )
    return [(str(a), v, h) for a, v, h in rows]


def _send(app: Flask, pixel: bool = False) -> str:
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        assert topic is not None
        campaign = create_campaign(topic, "Nieuws", BODY, "News", BODY, None)
        campaign.open_pixel = pixel
        db.session.commit()
        public_id = campaign.public_id
    start(app, public_id)
    deliver(app)
    return public_id


def _newsletter(smtp: SMTPServer, email: str) -> object:
    return [m for m in smtp.to(email) if m["List-Id"]][-1]


def _links(mail: object) -> list[str]:
    return re.findall(r"http://localhost(/r/[\w.-]+)", text_of(mail))  # type: ignore[arg-type]


def test_the_box_is_never_ticked_and_confirming_records_the_consent(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    for page in ("/", "/subscribe"):
        html = client.get(page).get_data(as_text=True)
        [box] = re.findall(r'<input[^>]*name="statistics"[^>]*>', html)
        assert "checked" not in box and 'type="checkbox"' in box
    _sign_up(app, client, smtp_server, FAN, stats=True)
    with app.app_context():
        fan = _contact(FAN)
        assert fan.statistics_since is not None
        rows = _statistics_rows(fan.public_id)
        assert [action for action, _, _ in rows] == ["requested", "confirmed"]
        assert all(version == 1 and digest for _, version, digest in rows)
    # The welcome mail's receipt names it beside the newsletter.
    [welcome] = [m for m in smtp_server.to(FAN) if "Welkom" in str(m["Subject"])]
    assert "Persoonlijke statistieken" in text_of(welcome)  # type: ignore[arg-type]


def test_without_the_consent_nothing_is_requested(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, OTHER, stats=False)
    with app.app_context():
        other = _contact(OTHER)
        assert other.statistics_since is None
        assert _statistics_rows(other.public_id) == []


def test_only_the_consenting_reader_gets_personal_links_and_the_pixel(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, FAN, stats=True)
    _sign_up(app, app.test_client(), smtp_server, OTHER, stats=False)
    public_id = _send(app, pixel=True)
    fan_mail, other_mail = _newsletter(smtp_server, FAN), _newsletter(smtp_server, OTHER)
    [fan_link], [other_link] = _links(fan_mail), _links(other_mail)
    assert fan_link != other_link
    assert "/o/" in html_of(fan_mail) and "/o/" not in html_of(other_mail)  # type: ignore[arg-type]
    reader = app.test_client()
    for link in (fan_link, other_link, other_link):
        response = reader.get(link)
        assert response.status_code == 302
        assert response.headers["Location"] == "https://example.be/nieuws"
    [pixel] = re.findall(r'src="http://localhost(/o/[\w.-]+\.gif)"', html_of(fan_mail))  # type: ignore[arg-type]
    assert reader.get(pixel).mimetype == "image/gif"
    with app.app_context():
        fan, other = _contact(FAN), _contact(OTHER)
        kept = db.session.scalars(sa.select(PersonalStatistic)).all()
        assert {(row.contact_id, row.link_id is None) for row in kept} == {
            (fan.id, False),
            (fan.id, True),
        }
        assert db.session.scalar(sa.select(sa.func.sum(LinkClickDay.clicks))) == 3
        fan_id, other_id = fan.public_id, other.public_id
    fan_page = admin_client.get(f"/staff/contacts/{fan_id}").get_data(as_text=True)
    assert "klikte op" in fan_page
    assert "https://example.be/nieuws" in fan_page
    other_page = admin_client.get(f"/staff/contacts/{other_id}").get_data(as_text=True)
    assert "https://example.be/nieuws" not in other_page
    report = admin_client.get(f"/staff/campaigns/{public_id}").get_data(as_text=True)
    assert "&lt; 5" in report  # three clicks: hidden on the report


def test_withdrawing_deletes_what_was_recorded_and_links_keep_working(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, FAN, stats=True)
    _send(app)
    [link] = _links(_newsletter(smtp_server, FAN))
    app.test_client().get(link)
    with app.app_context():
        fan = _contact(FAN)
        token = make_token(Purpose.PREFERENCES_REQUEST, fan)
    page = f"/preferences/{token}"
    assert 'name="statistics"' in client.get(page).get_data(as_text=True)
    response = post_form(client, page, {"topics": "service-news", "language": "nl"})
    assert response.status_code == 302
    with app.app_context():
        fan = _contact(FAN)
        assert fan.statistics_since is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalStatistic)) == 0
        last = db.session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.subject_id == fan.public_id, ConsentEvent.purpose == "statistics")
            .order_by(ConsentEvent.id.desc())
        ).first()
        assert last is not None and str(last.action) == "withdrawn"
        assert last.details == {"records_deleted": 1}
    again = app.test_client().get(link)
    assert again.status_code == 302  # the mailed link still leads on, counted anonymously
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalStatistic)) == 0
        assert db.session.scalar(sa.select(sa.func.sum(LinkClickDay.clicks))) == 2


def test_through_the_footer_link_switching_on_waits_for_the_mailed_confirmation(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, OTHER, stats=False)
    with app.test_request_context():
        other = _contact(OTHER)
        changes = update_topics(
            PreferencesAccess(contact=other, full=False),
            ["service-news"],
            Origin(None, None),
            "nl",
            statistics=True,
        )
        db.session.commit()
        assert changes.mail_sent and other.statistics_since is None
        assert [a for a, _, _ in _statistics_rows(other.public_id)] == ["requested"]
    confirm(client, confirmation_link(app, smtp_server, OTHER))
    with app.app_context():
        assert _contact(OTHER).statistics_since is not None


def test_a_personal_link_of_an_erased_reader_counts_only_anonymously(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, FAN, stats=True)
    _send(app)
    [link] = _links(_newsletter(smtp_server, FAN))
    with app.app_context():
        from consentapp.services.erasure import erase_person

        erase_person(_contact(FAN), None)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
    assert app.test_client().get(link).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalStatistic)) == 0


def test_an_old_confirmation_link_does_not_give_it_again_after_a_withdrawal(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    fields = {"email": FAN, "topics": "service-news", "language": "nl", "statistics": "y"}
    post_form(client, "/subscribe", fields)
    link = confirmation_link(app, smtp_server, FAN)
    confirm(client, link)
    with app.test_request_context():
        fan = _contact(FAN)
        update_topics(
            PreferencesAccess(contact=fan, full=True),
            ["service-news"],
            Origin(None, None),
            "nl",
            False,
        )
        db.session.commit()
    confirm(app.test_client(), link)
    with app.app_context():
        fan = _contact(FAN)
        assert fan.statistics_since is None
        assert [a for a, _, _ in _statistics_rows(fan.public_id)] == [
            "requested",
            "confirmed",
            "withdrawn",
        ]


def test_a_stale_read_gives_or_withdraws_once(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, OTHER, stats=False)
    from consentapp.services import statistics_consent
    from consentapp.services.consent import ConsentSource

    with app.app_context():
        stale = _contact(OTHER)  # read before another request gives the consent
        with db.engine.begin() as other_request:
            other_request.execute(
                sa.text("UPDATE contacts SET statistics_since = CURRENT_TIMESTAMP WHERE id = :id"),
                {"id": stale.id},
            )
        assert not statistics_consent.give(stale, ConsentSource("web_form", None))
        db.session.commit()
        assert _statistics_rows(stale.public_id) == []


def test_leaving_the_last_newsletter_ends_it(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, FAN, stats=True)
    _send(app)
    mail = _newsletter(smtp_server, FAN)
    app.test_client().get(_links(mail)[0])
    unsubscribe = re.findall(r"http://localhost(/unsubscribe/[\w.-]+)", text_of(mail))[0]  # type: ignore[arg-type]
    response = app.test_client().post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with app.app_context():
        fan = _contact(FAN)
        assert fan.statistics_since is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalStatistic)) == 0
        assert [a for a, _, _ in _statistics_rows(fan.public_id)][-1] == "withdrawn"


def test_the_pixel_counts_one_open_however_often_fetched_and_the_export_shows_it(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    _sign_up(app, client, smtp_server, FAN, stats=True)
    _send(app, pixel=True)
    html = html_of(_newsletter(smtp_server, FAN))  # type: ignore[arg-type]
    [pixel] = re.findall(r'src="http://localhost(/o/[\w.-]+\.gif)"', html)
    for _ in range(3):
        assert app.test_client().get(pixel).status_code == 200
    assert app.test_client().get("/o/forged.gif").mimetype == "image/gif"
    with app.app_context():
        fan = _contact(FAN)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalStatistic)) == 1
        from consentapp.services.rights_export import build_export

        exported = build_export(fan)["personal_statistics"]
        assert exported["agreed_since"] and exported["records"][0]["opened"] is True


def test_a_click_read_before_a_withdrawal_committed_writes_nothing_after_it(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    from consentapp.models import CampaignLink
    from consentapp.services.campaign_links import record_personal

    _sign_up(app, client, smtp_server, FAN, stats=True)
    _send(app)
    with app.app_context():
        stale = _contact(FAN)  # the click read the consent here
        link = db.session.scalars(sa.select(CampaignLink)).first()
        assert link is not None and stale.statistics_since is not None
        with db.engine.begin() as withdrawal:  # another request withdraws meanwhile
            withdrawal.execute(
                sa.text("UPDATE contacts SET statistics_since = NULL WHERE id = :id"),
                {"id": stale.id},
            )
        record_personal(stale, link.campaign_id, link.id)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PersonalStatistic)) == 0
