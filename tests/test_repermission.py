"""Re-permission: asking subscribers whether they still want their newsletters, a
fresh confirmation under today's notice for who says yes, and a lapse only when an
admin decides it after the deadline."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import (
    ConsentEvent,
    Contact,
    Repermission,
    RepermissionRule,
    StaffUser,
    Subscription,
    utcnow,
)
from consentapp.services import notices
from consentapp.services import repermission as service
from consentapp.services.campaigns import CampaignError
from consentapp.services.repermission_mail import run_due_repermissions
from tests.builders import confirmed_long_ago, make_round, set_subscription
from tests.flows import ask, press, subscriber, verification_path
from tests.helpers import (
    audited,
    csrf_token,
    deliver,
    ledger,
    link_in,
    subscribed,
    text_of,
    visible_text,
)
from tests.services import SMTPServer

OLD = "old@example.be"  # confirmed 30 months ago, to two newsletters
RECENT = "recent@example.be"  # confirmed today
YES = {"answer": "yes"}  # what the page's button sends


def readers(app: Flask, smtp_server: SMTPServer) -> None:
    subscriber(app, app.test_client(), smtp_server, OLD)
    set_subscription(app, OLD, "product-updates", "confirmed")
    subscriber(app, app.test_client(), smtp_server, RECENT)
    confirmed_long_ago(app, OLD)
    smtp_server.handler.clear()


def quiet_reader(app: Flask, smtp_server: SMTPServer) -> None:
    """quiet@ confirmed service news long ago too, and will not answer."""
    subscriber(app, app.test_client(), smtp_server, "quiet@example.be")
    confirmed_long_ago(app, "quiet@example.be")


def question_mail(smtp_server: SMTPServer, email: str) -> EmailMessage:
    [mail] = [m for m in smtp_server.to(email) if "/still-wanted/" in text_of(m)]
    return mail


def buttons(mail: EmailMessage) -> dict[str, str]:
    """The "yes" link of each newsletter in the mail, by its name."""
    found, lines = {}, text_of(mail).splitlines()
    for line in lines:
        if "/still-wanted/" in line:
            label, _, url = line.rpartition(": ")
            found[label] = url.removeprefix("http://localhost")
    return found


def past_deadline(app: Flask, public_id: str) -> None:
    with app.app_context():
        db.session.execute(
            sa.update(Repermission)
            .where(Repermission.public_id == public_id)
            .values(deadline_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()


def test_only_old_confirmations_are_asked_one_mail_with_a_button_per_newsletter(
    app: Flask, smtp_server: SMTPServer
) -> None:
    readers(app, smtp_server)
    with app.app_context():
        found = service.preview(service.RoundChoice(RepermissionRule.CONFIRMED_BEFORE, 24))
        assert found.people == 1
        assert found.by_topic == {"service-news": 1, "product-updates": 1}
    public_id = make_round(app)
    deliver(app)
    assert smtp_server.to(RECENT) == []
    mail = question_mail(smtp_server, OLD)
    assert mail["Subject"] == "Wilt u onze nieuwsbrieven nog ontvangen?"
    assert sorted(buttons(mail)) == [
        "Ja, stuur mij verder Nieuws over onze diensten",
        "Ja, stuur mij verder Productupdates",
    ]
    assert mail["List-Unsubscribe"], "one click out of them all, too"
    [entry] = audited(app, "repermission.start")
    assert entry.target_id == public_id and entry.details is not None
    assert entry.details["people"] == 1 and entry.details["months"] == 24
    with app.app_context():
        assert service.figures(db.session.scalar(sa.select(Repermission))) == service.Figures(
            1, 0, 1, 0
        )


def test_yes_is_a_fresh_confirmation_under_todays_notice(
    app: Flask, smtp_server: SMTPServer
) -> None:
    readers(app, smtp_server)
    make_round(app)
    deliver(app)
    link = buttons(question_mail(smtp_server, OLD))["Ja, stuur mij verder Productupdates"]
    visitor = app.test_client(use_cookies=False)
    before = len(ledger(app))
    page = visitor.get(link)
    assert page.status_code == 200 and "Ja, stuur mij verder" in page.get_data(as_text=True)
    assert len(ledger(app)) == before, "opening the link (a mail scanner) confirms nothing"
    answered = visitor.post(link, data=YES)
    assert answered.status_code == 200
    assert "Bedankt" in visible_text(answered.get_data(as_text=True))
    assert ledger(app)[before:] == [("confirmed", "repermission", "product-updates")]
    with app.app_context():
        row = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert row is not None and row.notice_version == notices.latest_version()
        assert row.details == {"repermission": db.session.scalar(sa.select(Repermission.public_id))}
        confirmed_at = db.session.scalars(
            sa.select(Subscription.confirmed_at).order_by(Subscription.confirmed_at.desc())
        ).first()
        assert confirmed_at is not None and confirmed_at > utcnow() - timedelta(minutes=1)
    assert visitor.post(link, data=YES).status_code == 409, "a second press records nothing more"
    assert len(ledger(app)) == before + 1


def test_a_newsletter_left_meanwhile_is_not_revived(app: Flask, smtp_server: SMTPServer) -> None:
    readers(app, smtp_server)
    make_round(app)
    deliver(app)
    link = buttons(question_mail(smtp_server, OLD))["Ja, stuur mij verder Productupdates"]
    set_subscription(app, OLD, "product-updates", "unsubscribed")
    before = len(ledger(app))
    answer = app.test_client(use_cookies=False).post(link, data=YES)
    assert answer.status_code == 410
    assert subscribed(app, OLD)["product-updates"] == "unsubscribed"
    assert len(ledger(app)) == before


def test_a_tampered_or_foreign_link_is_refused(app: Flask, smtp_server: SMTPServer) -> None:
    readers(app, smtp_server)
    make_round(app)
    deliver(app)
    link = buttons(question_mail(smtp_server, OLD))["Ja, stuur mij verder Productupdates"]
    visitor = app.test_client(use_cookies=False)
    assert visitor.post(link[:-3] + "abc", data=YES).status_code == 400
    assert visitor.get("/still-wanted/nonsense").status_code == 400
    unsubscribe = link_in(question_mail(smtp_server, OLD), "/unsubscribe/")
    foreign = "/still-wanted/" + unsubscribe.split("/")[-1]
    assert visitor.post(foreign, data=YES).status_code == 400


def test_nobody_lapses_before_the_deadline_or_without_an_admin(
    app: Flask, smtp_server: SMTPServer, admin_id: int, staff_id: int
) -> None:
    readers(app, smtp_server)
    make_round(app)
    with app.app_context():
        round_ = db.session.scalar(sa.select(Repermission))
        assert round_ is not None
        for actor_id in (admin_id, staff_id):
            try:
                service.lapse(round_, db.session.get(StaffUser, actor_id))
            except CampaignError:  # not yet, and not by staff
                db.session.rollback()
                continue
            raise AssertionError("lapsed before the deadline or by a staff member")
    assert subscribed(app, OLD) == {"service-news": "confirmed", "product-updates": "confirmed"}


def test_after_the_deadline_an_admin_lets_the_unanswered_lapse(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient
) -> None:
    readers(app, smtp_server)
    quiet_reader(app, smtp_server)
    public_id = make_round(app)
    deliver(app)
    link = buttons(question_mail(smtp_server, OLD))["Ja, stuur mij verder Productupdates"]
    assert app.test_client(use_cookies=False).post(link, data=YES).status_code == 200
    past_deadline(app, public_id)
    path = f"/staff/repermission/{public_id}"
    admin_client.get("/staff/?lang=en")
    page = visible_text(admin_client.get(path).get_data(as_text=True))
    assert "Let those who did not answer lapse" in page
    token = csrf_token(admin_client, path)
    asked = admin_client.post(f"{path}/lapse", data={"csrf_token": token})
    assert asked.status_code == 200
    assert "2 people did not answer" in visible_text(asked.get_data(as_text=True))
    assert subscribed(app, "quiet@example.be")["service-news"] == "confirmed", "asked, not done"
    done = admin_client.post(f"{path}/lapse", data={"csrf_token": token, "confirmed": "1"})
    assert done.status_code == 302
    assert subscribed(app, OLD) == {
        "service-news": "unsubscribed",
        "product-updates": "confirmed",
    }, "what was confirmed stays; what was not lapses"
    assert subscribed(app, "quiet@example.be") == {"service-news": "unsubscribed"}
    lapsed = [row for row in ledger(app) if row[1] == "lapsed"]
    assert sorted(lapsed) == [("withdrawn", "lapsed", "service-news")] * 2
    [entry] = audited(app, "repermission.lapse")
    assert entry.details == {"people": 2, "topics": 2}
    again = admin_client.post(f"{path}/lapse", data={"csrf_token": token, "confirmed": "1"})
    assert again.status_code == 302 and len(audited(app, "repermission.lapse")) == 1
    assert app.test_client(use_cookies=False).post(link, data=YES).status_code == 410, "closed"
    page = visible_text(admin_client.get(path).get_data(as_text=True))
    assert "Lapsed 2" in page and "Still want it 1" in page


def test_the_access_copy_lists_each_question_with_its_answer_or_lapse(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer
) -> None:
    readers(app, smtp_server)
    public_id = make_round(app)
    deliver(app)
    link = buttons(question_mail(smtp_server, OLD))["Ja, stuur mij verder Productupdates"]
    assert app.test_client(use_cookies=False).post(link, data=YES).status_code == 200
    past_deadline(app, public_id)
    with app.app_context():
        round_ = db.session.scalar(sa.select(Repermission))
        assert round_ is not None
        assert service.lapse(round_, db.session.scalar(sa.select(StaffUser))) == 1
    assert ask(client, "access", OLD) == 200
    status, html = press(client, verification_path(app, smtp_server, OLD))
    assert status == 200
    shown = visible_text(html)
    assert "Gevraagd of u een nieuwsbrief nog wilt ontvangen" in shown
    assert re.search(r"Productupdates: u zei ja op \d", shown)
    assert re.search(r"Nieuws over onze diensten: geen antwoord, gestopt op \d", shown)
    export = re.search(r'href="(/my-data/export/[^"]+\.json)"', html)
    assert export is not None
    asked = json.loads(client.get(export.group(1)).get_data(as_text=True))["asked_again"]
    assert [
        (a["topic"], a["mailed"], bool(a["answered_at"]), bool(a["lapsed_at"])) for a in asked
    ] == [
        ("product-updates", True, True, False),
        ("service-news", True, False, True),
    ]
    assert all(a["asked_at"] and a["answer_by"] for a in asked)


def access_copy(app: Flask, client: FlaskClient, smtp_server: SMTPServer) -> tuple[str, Any]:
    """The access page OLD sees (its visible text) and the `asked_again` of its JSON."""
    assert ask(client, "access", OLD) == 200
    status, html = press(client, verification_path(app, smtp_server, OLD))
    assert status == 200
    export = re.search(r'href="(/my-data/export/[^"]+\.json)"', html)
    assert export is not None
    data = json.loads(client.get(export.group(1)).get_data(as_text=True))
    return visible_text(html), data["asked_again"]


def test_a_round_can_close_without_anyone_lapsing(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient, client: FlaskClient
) -> None:
    readers(app, smtp_server)
    public_id = make_round(app)
    deliver(app)
    shown, asked = access_copy(app, client, smtp_server)
    assert [(a["state"], a["round_closed_at"]) for a in asked] == [("open", None)] * 2
    assert re.search(r"Productupdates: u kunt antwoorden tot \d", shown)
    path = f"/staff/repermission/{public_id}"
    token = csrf_token(admin_client, path)
    assert admin_client.post(f"{path}/close", data={"csrf_token": token}).status_code == 302
    assert subscribed(app, OLD) == {"service-news": "confirmed", "product-updates": "confirmed"}
    assert len(audited(app, "repermission.close")) == 1
    with app.app_context():
        round_ = db.session.scalar(sa.select(Repermission))
        assert round_ is not None and round_.status == "closed" and round_.closed_at
        closed_at = round_.closed_at.isoformat(timespec="seconds")
    # The person is no longer told they can answer: the buttons are refused now.
    shown, asked = access_copy(app, client, smtp_server)
    assert [(a["state"], a["round_closed_at"]) for a in asked] == [("closed", closed_at)] * 2
    assert "u kunt antwoorden" not in shown
    assert re.search(r"Productupdates: geen antwoord; de vraag sloot op \d.*niets gestopt", shown)


def mail_returns(app: Flask, email: str, since: datetime | None) -> None:
    """Mark the address undeliverable from `since` (None: it takes mail again)."""
    with app.app_context():
        db.session.execute(
            sa.update(Contact).where(Contact.email == email).values(undeliverable_at=since)
        )
        db.session.commit()


def test_a_notice_that_changed_the_purposes_offers_a_round_for_who_agreed_before(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient
) -> None:
    subscriber(app, app.test_client(), smtp_server, OLD)
    mail_returns(app, OLD, utcnow())  # nobody to ask for now
    page = admin_client.get("/staff/notices")
    form = {
        "csrf_token": csrf_token(admin_client, "/staff/notices"),
        "text_nl": "# Privacyverklaring\n\nNieuwe doeleinden.",
        "text_en": "# Privacy notice\n\nNew purposes.",
        "purposes_changed": "y",
        "publish": "1",
    }
    assert page.status_code == 200
    assert admin_client.post("/staff/notices", data=form).status_code == 302
    [published] = audited(app, "notice.publish")
    assert published.details is not None and published.details["purposes_changed"] is True
    notice_page = admin_client.get("/staff/notices").get_data(as_text=True)
    assert "/staff/repermission?version=2" not in notice_page, "no one agreed before"
    mail_returns(app, OLD, None)  # agreed under version 1, and takes mail again
    subscriber(app, app.test_client(), smtp_server, RECENT)  # agreed under version 2
    notice_page = admin_client.get("/staff/notices").get_data(as_text=True)
    assert "/staff/repermission?version=2" in notice_page
    offered = admin_client.get("/staff/repermission?version=2").get_data(as_text=True)
    assert 'value="2"' in offered
    data = {
        "csrf_token": csrf_token(admin_client, "/staff/repermission"),
        "rule": "notice_before",
        "notice_version": "2",
        "days": "30",
    }
    preview = admin_client.post("/staff/repermission", data=data)
    assert preview.status_code == 200
    assert "1 persoon" in visible_text(preview.get_data(as_text=True))
    started = admin_client.post("/staff/repermission", data=data | {"confirmed": "1"})
    assert started.status_code == 302
    with app.app_context():
        run_due_repermissions()
    deliver(app)
    assert question_mail(smtp_server, OLD)
    assert [m for m in smtp_server.to(RECENT) if "/still-wanted/" in text_of(m)] == []
    assert "/staff/repermission?version=2" not in admin_client.get("/staff/notices").get_data(
        as_text=True
    ), "offered until a round asks about it"


def test_the_round_form_refuses_what_it_cannot_do(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient, staff_client: FlaskClient
) -> None:
    readers(app, smtp_server)
    token = csrf_token(admin_client, "/staff/repermission")
    nobody = {"csrf_token": token, "rule": "confirmed_before", "months": "240", "days": "30"}
    answer = admin_client.post("/staff/repermission", data=nobody | {"confirmed": "1"})
    assert answer.status_code == 409
    for wrong in ({"months": "0"}, {"days": "3"}, {"months": ""}, {"rule": "everyone"}):
        assert admin_client.post("/staff/repermission", data=nobody | wrong).status_code == 400
    version = {"rule": "notice_before", "notice_version": "9", "confirmed": "1"}
    assert admin_client.post("/staff/repermission", data=nobody | version).status_code == 409
    staff_token = csrf_token(staff_client, "/staff/repermission")
    refused = staff_client.post(
        "/staff/repermission", data=nobody | {"csrf_token": staff_token, "months": "24"}
    )
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.scalars(sa.select(Repermission)).all() == []


def test_an_erasure_takes_the_persons_questions_with_it(
    app: Flask, smtp_server: SMTPServer
) -> None:
    from consentapp.models import RepermissionAsk
    from consentapp.services.contacts import find_contact
    from consentapp.services.erasure import erase_person

    readers(app, smtp_server)
    make_round(app)
    with app.app_context():
        contact = find_contact(OLD)
        assert contact is not None
        erase_person(contact)
        db.session.commit()
        assert db.session.scalars(sa.select(RepermissionAsk)).all() == []


def test_a_second_press_starts_nothing_and_a_new_confirmation_never_lapses(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient
) -> None:
    readers(app, smtp_server)
    public_id = make_round(app)
    token = csrf_token(admin_client, "/staff/repermission")
    again = {"csrf_token": token, "rule": "confirmed_before", "months": "24", "days": "30"}
    answer = admin_client.post("/staff/repermission", data=again | {"confirmed": "1"})
    assert answer.status_code == 409, "everyone matching is asked already"
    with app.app_context():
        assert len(db.session.scalars(sa.select(Repermission)).all()) == 1
    # Left and signed up again while asked: a confirmation newer than the question.
    set_subscription(app, OLD, "product-updates", "unsubscribed")
    set_subscription(app, OLD, "product-updates", "confirmed")
    past_deadline(app, public_id)
    with app.app_context():
        round_ = db.session.scalar(sa.select(Repermission))
        assert round_ is not None
        assert service.lapse_preview(round_).by_topic == {"service-news": 1}
        admin = db.session.scalar(sa.select(StaffUser))
        assert service.lapse(round_, admin) == 1
    assert subscribed(app, OLD) == {"service-news": "unsubscribed", "product-updates": "confirmed"}


def test_answers_until_the_end_of_the_named_day_and_only_with_the_button(
    app: Flask, smtp_server: SMTPServer
) -> None:
    from zoneinfo import ZoneInfo

    readers(app, smtp_server)
    make_round(app, days=10)
    with app.app_context():
        deadline = db.session.scalar(sa.select(Repermission.deadline_at))
        assert deadline is not None
        local = deadline.astimezone(ZoneInfo(app.config["TIMEZONE"]))
        assert (local.hour, local.minute) == (23, 59)
        assert local.date() == (utcnow() + timedelta(days=10)).astimezone(local.tzinfo).date()
    deliver(app)
    link = buttons(question_mail(smtp_server, OLD))["Ja, stuur mij verder Productupdates"]
    visitor = app.test_client(use_cookies=False)
    before = len(ledger(app))
    assert visitor.post(link, data={"answer": "no"}).status_code == 400
    assert len(ledger(app)) == before


def test_a_round_still_sending_can_be_closed_and_sends_no_more(
    app: Flask, smtp_server: SMTPServer, admin_client: FlaskClient
) -> None:
    readers(app, smtp_server)
    quiet_reader(app, smtp_server)
    with app.app_context():
        started = service.start_round(
            service.RoundChoice(RepermissionRule.CONFIRMED_BEFORE, 24), 30, None
        )
        from consentapp.services.repermission_mail import queue_batch

        assert queue_batch(started, size=1) == 1
        path = f"/staff/repermission/{started.public_id}"
    token = csrf_token(admin_client, path)
    assert admin_client.post(f"{path}/close", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert run_due_repermissions() == 0
        assert db.session.scalar(sa.select(Repermission.status)) == "closed"
    deliver(app)
    asked = [m for m in smtp_server.handler.messages if "/still-wanted/" in text_of(m)]
    assert len(asked) == 1, "the second person's mail was never queued"


def test_the_round_form_takes_only_a_plain_version_number(
    app: Flask, admin_client: FlaskClient
) -> None:
    preset = re.compile(r'<input checked[^>]*value="notice_before"')
    assert preset.search(admin_client.get("/staff/repermission?version=2").get_data(as_text=True))
    for odd in ("%C2%B2", "9" * 5000, "-1", "x"):
        page = admin_client.get(f"/staff/repermission?version={odd}")
        assert page.status_code == 200, odd
        assert not preset.search(page.get_data(as_text=True)), odd
