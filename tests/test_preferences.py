"""The preferences page, address changes, key rotation and expiry of unconfirmed sign-ups."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from consentapp import create_app
from consentapp.config import TestingConfig
from consentapp.extensions import db
from consentapp.models import ConsentEvent, Contact, OutboundEmail, Subscription, utcnow
from consentapp.tokens import Purpose, make_token
from tests.builders import ADDRESS, NEW_ADDRESS, VALID
from tests.flows import confirm, confirmation_link, subscribe, welcome_mail
from tests.helpers import (
    audited,
    csrf_token,
    deliver,
    ledger,
    link_in,
    post_form,
    subscribed,
    text_of,
)
from tests.services import SMTPServer


@pytest.fixture
def footer_path(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> str:
    """A confirmed subscriber of product-updates; the lasting link from the welcome mail."""
    subscribe(client)
    assert confirm(client, confirmation_link(app, smtp_server)) == 200
    deliver(app)
    return link_in(welcome_mail(smtp_server), "/preferences/")  # type: ignore[arg-type]


@pytest.fixture
def prefs_path(app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str) -> str:
    """The one-day link the subscriber asked for: it opens the contact details too."""
    post_form(client, "/preferences", {"email": ADDRESS})
    deliver(app)
    mails = [m for m in smtp_server.to(ADDRESS) if "beheren" in str(m["Subject"])]
    return link_in(mails[-1], "/preferences/")


def save(client: FlaskClient, path: str, **fields: object) -> None:
    data = {
        "topics": ["product-updates"],
        "language": "nl",
        "name": "Lies",
        "company": "",
        "address": "",
        "phone": "",
        "fax": "",
        **fields,
    }
    response = post_form(client, path, data)
    assert response.status_code == 302, response.get_data(as_text=True)


def contact(app: Flask) -> Contact:
    with app.app_context():
        found = db.session.scalar(sa.select(Contact))
        assert found is not None
        db.session.expunge(found)
        return found


def test_requested_link_opens_the_preferences(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, prefs_path: str
) -> None:
    page = client.get(prefs_path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert ADDRESS in html
    assert re.search(r'<input checked[^>]*value="product-updates"', html)


def test_adding_a_topic_is_a_confirmed_opt_in(
    app: Flask, client: FlaskClient, prefs_path: str
) -> None:
    save(client, prefs_path, topics=["product-updates", "company-news"])
    assert subscribed(app) == {"product-updates": "confirmed", "company-news": "confirmed"}
    assert ledger(app)[-1] == ("confirmed", "web_form", "company-news")
    with app.app_context():
        event = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert event is not None and event.details == {"via": "preferences link"}
        assert event.notice_version == 1


def test_removing_a_topic_withdraws_it(app: Flask, client: FlaskClient, prefs_path: str) -> None:
    save(client, prefs_path, topics=[])
    assert subscribed(app) == {"product-updates": "unsubscribed"}
    assert ledger(app)[-1] == ("withdrawn", "web_form", "product-updates")


def test_unknown_topic_on_preferences_is_a_400(
    app: Flask, client: FlaskClient, prefs_path: str
) -> None:
    token = csrf_token(client, prefs_path)
    response = client.post(prefs_path, data={"csrf_token": token, "topics": "nope"})
    assert response.status_code == 400
    assert subscribed(app) == {"product-updates": "confirmed"}


def test_corrections_are_recorded_field_by_field(
    app: Flask, client: FlaskClient, prefs_path: str
) -> None:
    save(client, prefs_path, name="Lies Peeters", phone="0470 12 34 56", language="en")
    person = contact(app)
    assert (person.name, person.phone, person.language) == ("Lies Peeters", "+32470123456", "en")
    with app.app_context():
        fields = [
            e.details["field"]
            for e in db.session.scalars(
                sa.select(ConsentEvent).where(ConsentEvent.action == "rectified")
            )
        ]
    assert fields == ["name", "phone"]


def test_bad_details_are_refused_and_nothing_changes(
    app: Flask, client: FlaskClient, prefs_path: str
) -> None:
    token = csrf_token(client, prefs_path)
    response = client.post(
        prefs_path,
        data={"csrf_token": token, "topics": "product-updates", "name": "x" * 300, "phone": "12"},
    )
    assert response.status_code == 400
    assert contact(app).name == "Lies"


def test_unsubscribe_from_everything(app: Flask, client: FlaskClient, prefs_path: str) -> None:
    save(client, prefs_path, topics=["product-updates", "service-news"])
    token = csrf_token(client, prefs_path)
    response = client.post(prefs_path + "/unsubscribe-all", data={"csrf_token": token})
    assert response.status_code == 200
    assert set(subscribed(app).values()) == {"unsubscribed"}


def test_email_change_is_verified_first_and_kills_old_links(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, prefs_path: str
) -> None:
    unsubscribe_path = link_in(welcome_mail(smtp_server), "/unsubscribe/")  # type: ignore[arg-type]
    smtp_server.handler.clear()
    token = csrf_token(client, prefs_path)
    response = client.post(
        prefs_path + "/email", data={"csrf_token": token, "new_email": NEW_ADDRESS}
    )
    assert response.status_code == 302
    deliver(app)
    [verify_mail] = smtp_server.to(NEW_ADDRESS)
    [notice_mail] = smtp_server.to(ADDRESS)
    assert "l***@example.be" in notice_mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert contact(app).email == ADDRESS, "nothing changes before verification"
    assert client.get(prefs_path).status_code == 200, "old links live until then"

    verify_path = link_in(verify_mail, "/preferences/email/")
    assert client.get(verify_path).status_code == 200
    assert contact(app).email == ADDRESS, "GET does not change the address"
    token = csrf_token(client, verify_path)
    assert client.post(verify_path, data={"csrf_token": token}).status_code == 200
    assert contact(app).email == NEW_ADDRESS
    assert ("rectified", "web_form", None) in ledger(app)

    assert client.get(prefs_path).status_code == 400
    assert app.test_client(use_cookies=False).post(unsubscribe_path).status_code == 400
    assert client.get(verify_path).status_code == 400, "used once"
    assert subscribed(app, NEW_ADDRESS) == {"product-updates": "confirmed"}


def test_email_change_to_an_address_in_use_is_refused_kindly(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, prefs_path: str
) -> None:
    subscribe(app.test_client(), NEW_ADDRESS)
    smtp_server.handler.clear()
    token = csrf_token(client, prefs_path)
    client.post(prefs_path + "/email", data={"csrf_token": token, "new_email": NEW_ADDRESS})
    deliver(app)
    [verify_mail] = [m for m in smtp_server.to(NEW_ADDRESS) if "/preferences/email/" in str(m)]
    verify_path = link_in(verify_mail, "/preferences/email/")
    token = csrf_token(client, verify_path)
    response = client.post(verify_path, data={"csrf_token": token})
    assert response.status_code == 409
    assert contact_emails(app) == {ADDRESS, NEW_ADDRESS}


def contact_emails(app: Flask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.select(Contact.email)))


def _app_with_keys(app: Flask, secret: str, fallbacks: str) -> Flask:
    config = TestingConfig(
        {
            "CONSENTAPP_INSTANCE": app.instance_path,
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": secret,
            "SECRET_KEY_FALLBACKS": fallbacks,
        }
    )
    return create_app(config)


def test_links_survive_key_rotation_and_die_with_a_removed_key(
    app: Flask, client: FlaskClient, prefs_path: str
) -> None:
    old_key = app.config["SECRET_KEY"]
    rotated = _app_with_keys(app, "a-brand-new-secret-key-of-enough-length-123", old_key)
    assert rotated.test_client().get(prefs_path).status_code == 200
    with rotated.app_context():
        person = db.session.scalar(sa.select(Contact))
        assert person is not None
        fresh = make_token(Purpose.PREFERENCES, person)
    assert rotated.test_client().get(f"/preferences/{fresh}").status_code == 200
    removed = _app_with_keys(app, "a-brand-new-secret-key-of-enough-length-123", "")
    response = removed.test_client().get(prefs_path)
    assert response.status_code == 400
    assert "Deze link is niet geldig" in response.get_data(as_text=True)
    for rotated_app in (rotated, removed):
        with rotated_app.app_context():
            db.engine.dispose()


def _age_pending(app: Flask, days: int) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(Subscription)
            .where(Subscription.status == "pending")
            .values(requested_at=utcnow() - timedelta(days=days))
        )
        db.session.commit()


def test_unconfirmed_sign_ups_expire_with_their_personal_data(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, runner: FlaskCliRunner
) -> None:
    subscribe(client, "stale@example.be")
    deliver(app)
    _age_pending(app, 31)
    subscribe(app.test_client(), "fresh@example.be")

    result = runner.invoke(args=["purge-unconfirmed"])
    assert result.exit_code == 0, result.output
    assert "1" in result.output
    assert contact_emails(app) == {"fresh@example.be"}
    with app.app_context():
        leftovers = db.session.scalar(
            sa.select(sa.func.count(OutboundEmail.id)).where(
                OutboundEmail.to_address == "stale@example.be"
            )
        )
        assert leftovers == 0
        events = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)).all()
        stale = [e for e in events if e.subject_id == events[0].subject_id]
        fresh = [e for e in events if e.subject_id != events[0].subject_id]
        assert [e.action for e in stale] == ["requested", "expired"]
        assert all(e.client_address is None and e.user_agent is None for e in stale)
        assert [e.action for e in fresh] == ["requested"]
        assert fresh[0].client_address is not None, "others keep theirs"


def test_confirmed_and_recent_sign_ups_are_kept(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, prefs_path: str, tmp_path: Path
) -> None:
    subscribe(app.test_client(), "recent@example.be")
    _age_pending(app, 29)
    with app.app_context():
        from consentapp.services.retention import purge_unconfirmed

        assert purge_unconfirmed() == 0
    assert contact_emails(app) == {ADDRESS, "recent@example.be"}


def test_contact_form_contacts_lose_only_the_expired_request(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    post_form(client, "/contact", {**VALID, "subscribe": "y", "topics": ["service-news"]})
    _age_pending(app, 40)
    with app.app_context():
        from consentapp.services.retention import purge_unconfirmed

        assert purge_unconfirmed() == 0
    assert contact_emails(app) == {"els.janssens@example.be"}
    assert subscribed(app, "els.janssens@example.be") == {}


def test_footer_link_opens_topics_but_not_the_details(
    app: Flask, client: FlaskClient, footer_path: str
) -> None:
    html = client.get(footer_path).get_data(as_text=True)
    assert 'name="topics"' in html
    assert 'name="phone"' not in html and ADDRESS not in html
    assert "l***@example.be" in html
    save(client, footer_path, name="Someone Else", phone="0470 12 34 56")
    assert contact(app).name == "Lies", "details posted through a footer link are ignored"
    token = csrf_token(client, footer_path)
    response = client.post(
        footer_path + "/email", data={"csrf_token": token, "new_email": NEW_ADDRESS}
    )
    assert response.status_code == 403
    assert contact(app).pending_email is None


def test_footer_link_can_ask_for_the_details_link(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str
) -> None:
    smtp_server.handler.clear()
    token = csrf_token(client, footer_path)
    assert client.post(footer_path + "/details-link", data={"csrf_token": token}).status_code == 302
    deliver(app)
    [mail] = smtp_server.to(ADDRESS)
    html = client.get(link_in(mail, "/preferences/")).get_data(as_text=True)
    assert 'name="phone"' in html and ADDRESS in html


def test_purge_keeps_a_sign_up_that_became_a_customer(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    from datetime import date

    subscribe(client, "customer@example.be")
    with app.app_context():
        person = db.session.scalar(sa.select(Contact))
        assert person is not None
        person.last_invoice_on = date.today()
        db.session.commit()
    _age_pending(app, 40)
    with app.app_context():
        from consentapp.services.retention import purge_unconfirmed

        assert purge_unconfirmed() == 0
    assert contact_emails(app) == {"customer@example.be"}


FOOTER_HINT = "begint pas nadat u die bevestigt"
AT_ONCE_HINT = "Als u hier een nieuwsbrief"


def confirmation_mails(smtp_server: SMTPServer) -> list[object]:
    return [m for m in smtp_server.to(ADDRESS) if "/subscribe/confirm/" in text_of(m)]


def test_footer_link_addition_starts_the_double_opt_in(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str
) -> None:
    page = client.get(footer_path).get_data(as_text=True)
    assert FOOTER_HINT in page and AT_ONCE_HINT not in page, "the page says what will happen"
    smtp_server.handler.clear()

    save(client, footer_path, topics=["product-updates", "company-news"])

    assert subscribed(app) == {"product-updates": "confirmed", "company-news": "pending"}
    assert ledger(app)[-1] == ("requested", "web_form", "company-news")
    with app.app_context():
        event = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert event is not None and event.details is not None
        assert event.details["via"] == "preferences footer link"
    after = client.get(footer_path).get_data(as_text=True)
    assert "stuurden we een bevestigingsmail" in after
    assert "Wacht op uw bevestiging per mail: Bedrijfsnieuws" in after

    save(client, footer_path, topics=["product-updates"])
    assert subscribed(app)["company-news"] == "pending", "an unticked request keeps waiting"

    path = confirmation_link(app, smtp_server)
    assert subscribed(app)["company-news"] == "pending", "nothing confirmed before the link"
    assert confirm(client, path) == 200
    assert subscribed(app) == {"product-updates": "confirmed", "company-news": "confirmed"}
    assert ledger(app)[-1] == ("confirmed", "web_form", "company-news")


def test_footer_link_additions_share_the_confirmation_mail_limit(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str
) -> None:
    for _ in range(4):
        save(client, footer_path, topics=["product-updates", "company-news"])
    deliver(app)
    assert len(confirmation_mails(smtp_server)) == 3, "the sign-up's mail and two more"


def test_requested_link_confirms_a_waiting_topic_at_once(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str, prefs_path: str
) -> None:
    save(client, footer_path, topics=["product-updates", "company-news"])
    page = client.get(prefs_path).get_data(as_text=True)
    assert AT_ONCE_HINT in page and FOOTER_HINT not in page
    assert "Wacht op uw bevestiging per mail: Bedrijfsnieuws" in page
    deliver(app)
    smtp_server.handler.clear()

    save(client, prefs_path, topics=["product-updates", "company-news"])

    assert subscribed(app)["company-news"] == "confirmed"
    assert ledger(app)[-1] == ("confirmed", "web_form", "company-news")
    deliver(app)
    assert confirmation_mails(smtp_server) == [], "no mail needed: the link proved the address"


def test_footer_link_removal_is_immediate(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str
) -> None:
    page = client.get(footer_path).get_data(as_text=True)
    assert "Vinkt u er een uit, dan stopt die meteen" in page
    smtp_server.handler.clear()
    save(client, footer_path, topics=[])
    assert subscribed(app) == {"product-updates": "unsubscribed"}
    assert ledger(app)[-1] == ("withdrawn", "web_form", "product-updates")
    deliver(app)
    assert confirmation_mails(smtp_server) == []


def test_footer_link_masks_the_pending_new_address(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, footer_path: str, prefs_path: str
) -> None:
    token = csrf_token(client, prefs_path)
    client.post(prefs_path + "/email", data={"csrf_token": token, "new_email": NEW_ADDRESS})
    assert NEW_ADDRESS in client.get(prefs_path).get_data(as_text=True)

    html = client.get(footer_path).get_data(as_text=True)
    assert NEW_ADDRESS not in html and ADDRESS not in html
    assert "Een wijziging naar l***@example.be wacht" in html


def test_saving_through_a_requested_link_lifts_the_undeliverable_mark_opening_it_does_not(
    app: Flask, client: FlaskClient, prefs_path: str
) -> None:
    """A mail scanner fetching the link proves nothing a person did; saving does."""
    with app.app_context():
        found = db.session.scalar(sa.select(Contact))
        assert found is not None
        found.undeliverable_at = found.created_at
        found.undeliverable_reason = "soft"
        db.session.commit()
    assert client.get(prefs_path).status_code == 200
    assert contact(app).undeliverable_reason == "soft"
    save(client, prefs_path)
    assert contact(app).undeliverable_at is None
    (entry,) = audited(app, "contact.deliverable")
    assert entry.details == {"how": "link used", "was": "soft"}
