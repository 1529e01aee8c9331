"""What staff see and do with bounces and complaints: the bounces page and its filters,
a contact's history and lifting the undeliverable mark, the campaign report, the
dashboard's complaint warning, and CSV imports leaving undeliverable addresses alone.

Bounces are made as the core reads them (`bounces.apply_report` with a parsed report,
`bounces.record_refusal` for a refusal while sending).
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from consentapp.extensions import db
from consentapp.mail.reports import BounceKind, FailedRecipient, Report
from consentapp.models import (
    Bounce,
    BounceType,
    Campaign,
    ConsentEvent,
    Contact,
    OutboundEmail,
    utcnow,
)
from consentapp.services import bounces
from consentapp.services.bounces_admin import BounceFigures, campaign_figures
from consentapp.services.dashboard import refresh_snapshot
from tests.flows import import_csv, last_newsletter, send_campaign
from tests.helpers import audited, csrf_token

NL = "nl@example.be"
EN = "en@example.be"
HARD_DIAGNOSTIC = "550 5.1.1 <nl@example.be>: Recipient address rejected: " + "x" * 120


def bounce(
    app: Flask,
    address: str,
    kind: BounceKind = BounceKind.HARD,
    *,
    report_id: str = "dsn-1@mx.example.be",
    message_id: str | None = None,
    source: str = "generic",
    status: str | None = "5.1.1",
    diagnostic: str | None = HARD_DIAGNOSTIC,
) -> None:
    """A report about `address` read as the core reads it, committed."""
    report = Report(
        format="arf" if kind == BounceKind.COMPLAINT else "dsn",
        recipients=(FailedRecipient(address, kind, status, diagnostic),),
        report_id=report_id,
        original_message_id=message_id,
        return_paths=(),
        feedback_type="abuse" if kind == BounceKind.COMPLAINT else None,
    )
    with app.app_context():
        outcome = bounces.Outcome()
        bounces.apply_report(report, source, (), outcome)
        db.session.commit()
        assert outcome.recorded == 1, outcome


def contact_of(app: Flask, address: str) -> Contact:
    with app.app_context():
        found = db.session.scalar(sa.select(Contact).where(Contact.email == address))
        assert found is not None
        db.session.expunge(found)
        return found


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def table_rows(text: str) -> list[str]:
    """The rows of the page's first table body, as text without tags."""
    body = text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def clear(client: FlaskClient, public_id: str, reason: str | None) -> TestResponse:
    """Post the clearing form as the contact page offers it."""
    token = csrf_token(client, f"/staff/contacts/{public_id}")
    data = {"csrf_token": token, **({"reason": reason} if reason is not None else {})}
    return client.post(f"/staff/contacts/{public_id}/deliverable", data=data)


# 1. The bounces page ------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_the_list_shows_bounces_newest_first_in_words(
    app: Flask, staff_client: FlaskClient, staff_id: int
) -> None:
    bounce(app, NL, report_id="a", diagnostic=HARD_DIAGNOSTIC)
    bounce(app, EN, BounceKind.COMPLAINT, report_id="b", status=None, diagnostic=None)
    text = page(staff_client, "/staff/bounces")
    complaint, hard = table_rows(text)
    assert EN in complaint and "spamklacht" in complaint and "webhook" in complaint
    assert NL in hard and "harde bounce" in hard and "5.1.1" in hard
    # Raw codes never reach the Dutch page; the diagnostic is shortened, whole on hover.
    assert "generic" not in text and ">hard<" not in text
    assert f'title="{HARD_DIAGNOSTIC}"' in text
    assert HARD_DIAGNOSTIC not in hard
    assert f'href="/staff/contacts/{contact_of(app, NL).public_id}"' in text
    assert 'href="/staff/bounces"' in text, "the staff menu links to the page"
    [entry] = audited(app, "bounces.list")
    assert entry.actor_id == staff_id
    assert entry.details == {"page": 1, "shown": 2}


@pytest.mark.usefixtures("audience")
def test_filters_by_type_campaign_and_dates(app: Flask, admin_client: FlaskClient) -> None:
    campaign = send_campaign(app)
    bounce(app, NL, report_id="a", message_id=last_newsletter(app, NL)[1], source="smtp")
    bounce(app, EN, BounceKind.COMPLAINT, report_id="b")
    assert [NL in r for r in table_rows(page(admin_client, "/staff/bounces?type=hard"))] == [True]
    assert [EN in r for r in table_rows(page(admin_client, "/staff/bounces?type=complaint"))] == [
        True
    ]
    by_campaign = table_rows(page(admin_client, f"/staff/bounces?campaign={campaign}"))
    assert len(by_campaign) == 1 and NL in by_campaign[0] and "Onderhoud zaterdag" in by_campaign[0]
    today = utcnow().date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    assert len(table_rows(page(admin_client, f"/staff/bounces?from={today}&to={today}"))) == 2
    for empty in (f"to={yesterday}", f"from={tomorrow}"):
        assert table_rows(page(admin_client, f"/staff/bounces?{empty}")) == [
            "Geen bounces of klachten gevonden."
        ]
    entry = audited(app, "bounces.list")[1]
    assert entry.details == {"type": "complaint", "page": 1, "shown": 1}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type=bogus", "Onbekende soort"),
        ("campaign=nothing-like-this", "Die nieuwsbrief bestaat niet."),
        ("campaign=a%00b", "Die nieuwsbrief bestaat niet."),
        ("campaign=" + "a" * 300, "Die nieuwsbrief bestaat niet."),
        ("from=2026-01-01%00", "De begindatum is geen datum"),
        ("to=9999-12-31", "De einddatum is geen datum"),
        ("from=2026-13-45", "De begindatum is geen datum"),
        ("to=yesterday", "De einddatum is geen datum"),
        ("from=2026-05-02&to=2026-05-01", "De begindatum ligt na de einddatum."),
    ],
)
def test_a_filter_that_names_nothing_is_a_clear_400(
    app: Flask, admin_client: FlaskClient, query: str, message: str
) -> None:
    text = page(admin_client, f"/staff/bounces?{query}", status=400)
    assert message in text
    assert audited(app, "bounces.list") == [], "nothing shown, nothing to audit"


def test_odd_page_numbers_are_ignored(app: Flask, admin_client: FlaskClient) -> None:
    for value in ("abc", "-3", "99999999999999", "٣"):
        assert "Pagina 1" in page(admin_client, f"/staff/bounces?page={value}")


def test_the_list_needs_a_login(app: Flask, client: FlaskClient) -> None:
    response = client.get("/staff/bounces")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


# 2. The contact page ------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_the_contact_page_shows_the_history_and_the_mark(
    app: Flask, staff_client: FlaskClient
) -> None:
    public_id = contact_of(app, NL).public_id
    assert "Er kwam geen mail naar dit adres terug." in page(
        staff_client, f"/staff/contacts/{public_id}"
    )
    bounce(app, NL, BounceKind.SOFT, report_id="s", status="4.2.2", diagnostic="mailbox full")
    text = page(staff_client, f"/staff/contacts/{public_id}")
    assert "zachte bounce" in text and "4.2.2" in text and "mailbox full" in text
    assert "gaat er geen mail meer naar dit adres" not in text, "one soft bounce: no mark"
    bounce(app, NL, report_id="h")
    text = page(staff_client, f"/staff/contacts/{public_id}")
    assert re.search(
        r"Sinds .+ gaat er geen mail meer naar dit adres: de ontvangende server meldt dat"
        r" het adres niet bestaat of onze mail weigert\.",
        text,
    )
    assert f'action="/staff/contacts/{public_id}/deliverable"' in text


@pytest.mark.usefixtures("audience")
def test_clearing_needs_a_reason(app: Flask, staff_client: FlaskClient) -> None:
    bounce(app, NL)
    public_id = contact_of(app, NL).public_id
    for reason in (None, "   "):
        response = clear(staff_client, public_id, reason)
        assert response.status_code == 400
        assert 'class="field has-error"' in response.get_data(as_text=True)
    assert contact_of(app, NL).undeliverable_at is not None
    assert audited(app, "contact.deliverable") == []


@pytest.mark.usefixtures("audience")
def test_clearing_with_a_reason_lifts_the_mark_and_is_audited(
    app: Flask, staff_client: FlaskClient, staff_id: int
) -> None:
    bounce(app, NL)
    public_id = contact_of(app, NL).public_id
    response = clear(staff_client, public_id, "Called: the mailbox works again")
    assert response.status_code == 302
    assert contact_of(app, NL).undeliverable_at is None
    [entry] = audited(app, "contact.deliverable")
    assert entry.actor_id == staff_id
    assert entry.details == {
        "how": "staff",
        "was": "hard",
        "reason": "Called: the mailbox works again",
    }
    text = page(staff_client, f"/staff/contacts/{public_id}")
    assert "Het adres krijgt weer mail." in text
    assert "harde bounce" in text and "telt niet meer mee" in text, "the history stays"
    assert clear(staff_client, public_id, "again").status_code == 302
    assert len(audited(app, "contact.deliverable")) == 1, "nothing to lift a second time"


@pytest.mark.usefixtures("audience")
def test_who_may_clear_the_mark(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, staff_client: FlaskClient
) -> None:
    bounce(app, NL, report_id="a")
    bounce(app, EN, report_id="b")
    nl, en = contact_of(app, NL).public_id, contact_of(app, EN).public_id
    token = csrf_token(client, "/staff/login")
    anonymous = client.post(f"/staff/contacts/{nl}/deliverable", data={"csrf_token": token})
    assert anonymous.status_code == 302 and "/staff/login" in anonymous.headers["Location"]
    no_token = staff_client.post(f"/staff/contacts/{nl}/deliverable", data={"reason": "x"})
    assert no_token.status_code == 400
    assert contact_of(app, NL).undeliverable_at is not None
    assert clear(staff_client, nl, "by staff").status_code == 302
    assert clear(admin_client, en, "by an admin").status_code == 302
    assert contact_of(app, NL).undeliverable_at is None
    assert contact_of(app, EN).undeliverable_at is None
    token = csrf_token(admin_client, f"/staff/contacts/{nl}")
    missing = admin_client.post(
        "/staff/contacts/abcdefabcdefabcdef/deliverable", data={"csrf_token": token, "reason": "x"}
    )
    assert missing.status_code == 404


# 3. The campaign report ---------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_the_campaign_report_counts_and_rates(app: Flask, staff_client: FlaskClient) -> None:
    campaign = send_campaign(app)
    bounce(app, NL, report_id="a", message_id=last_newsletter(app, NL)[1], source="smtp")
    complaint_id = last_newsletter(app, EN)[1]
    bounce(app, EN, BounceKind.COMPLAINT, report_id="b", message_id=complaint_id, source="smtp")
    bounce(app, EN, BounceKind.SOFT, report_id="c")  # no campaign named: not counted here
    with app.app_context():
        found = db.session.scalar(
            sa.select(OutboundEmail.campaign_id).where(OutboundEmail.message_id == complaint_id)
        )
        assert found is not None
        figures = campaign_figures(db.session.get_one(Campaign, found))
    assert figures == BounceFigures(sent=2, hard=1, soft=0, complaint=1)
    text = page(staff_client, f"/staff/campaigns/{campaign}")
    section = text.split("Wat terugkwam", 1)[1]
    assert re.search(r'class="number">1</span><span class="what">harde bounces', section)
    assert re.search(r'class="number">0</span><span class="what">zachte bounces', section)
    assert "50,0 % van de verzonden mails" in section
    assert "de 2 mails die de ontvangende mailserver bereikten" in section


@pytest.mark.usefixtures("audience")
def test_refusals_while_sending_count_as_mails_sent(app: Flask) -> None:
    campaign = send_campaign(app)
    with app.app_context():
        row = db.session.scalars(
            sa.select(OutboundEmail).where(OutboundEmail.to_address == NL)
        ).all()[-1]
        bounces.record_refusal(
            row.contact_id, NL, row.id + 1000, row.campaign_id, BounceType.HARD, "5.1.1", "550"
        )
        db.session.commit()
        found = db.session.scalar(sa.select(Campaign).where(Campaign.public_id == campaign))
        assert found is not None
        figures = campaign_figures(found)
    assert (figures.sent, figures.hard) == (3, 1)
    assert figures.rate("hard") == pytest.approx(100 / 3)
    assert BounceFigures().rate("hard") is None, "nothing sent: no rate"


# 4. The dashboard ---------------------------------------------------------------------


def dashboard(app: Flask, client: FlaskClient) -> str:
    with app.app_context():
        refresh_snapshot()
    return page(client, "/staff/")


@pytest.mark.usefixtures("audience")
def test_the_dashboard_warns_when_complaints_pass_the_limit(
    app: Flask, admin_client: FlaskClient
) -> None:
    quiet = dashboard(app, admin_client)
    assert "complaint-warning" not in quiet
    assert re.search(r'class="number">0</span><span class="what">klachten in de laatste 30', quiet)
    bounce(app, NL, report_id="a")
    bounce(app, EN, BounceKind.COMPLAINT, report_id="b")
    text = dashboard(app, admin_client)
    assert re.search(r'class="number">1</span><span class="what">harde bounces in de', text)
    assert re.search(r'class="number">1</span><span class="what">klachten in de laatste', text)
    assert "complaint-warning" in text
    assert "Te veel mensen markeren onze mail als spam" in text
    assert "onze grens is 0,1 %." in text
    assert "boven 0,3 %," in text
    with app.app_context():
        sent = db.session.scalar(
            sa.select(sa.func.count(OutboundEmail.id)).where(OutboundEmail.status == "sent")
        )
    assert f"(1 van {sent})" in text


@pytest.mark.usefixtures("audience")
def test_no_warning_below_the_limit(app: Flask, admin_client: FlaskClient) -> None:
    bounce(app, EN, BounceKind.COMPLAINT, report_id="b")
    with app.app_context():
        sent = db.session.scalar(
            sa.select(sa.func.count(OutboundEmail.id)).where(OutboundEmail.status == "sent")
        )
    assert sent
    rate = 100 / sent
    app.config["BOUNCE_COMPLAINT_WARN_PERCENT"] = rate + 0.01
    assert "complaint-warning" not in dashboard(app, admin_client)
    app.config["BOUNCE_COMPLAINT_WARN_PERCENT"] = rate - 0.01
    assert "complaint-warning" in dashboard(app, admin_client)


@pytest.mark.usefixtures("audience")
def test_old_complaints_leave_the_dashboard(app: Flask, admin_client: FlaskClient) -> None:
    bounce(app, EN, BounceKind.COMPLAINT, report_id="b")
    with app.app_context():
        db.session.execute(sa.update(Bounce).values(occurred_at=utcnow() - timedelta(days=31)))
        db.session.commit()
    text = dashboard(app, admin_client)
    assert "complaint-warning" not in text
    assert re.search(r'class="number">0</span><span class="what">klachten in de laatste 30', text)


def test_a_snapshot_from_before_bounces_were_counted_still_reads(
    app: Flask, admin_client: FlaskClient
) -> None:
    app.config["DASHBOARD_MAX_AGE_SECONDS"] = 3600
    with app.app_context():
        refresh_snapshot()
        db.session.execute(
            sa.text("UPDATE dashboard_snapshots SET data = :data"),
            {
                "data": '{"contacts": 0, "per_topic": [], "pending": 0, '
                '"unsubscribed_30_days": 0, "open_inquiries": 0, "weeks": []}'
            },
        )
        db.session.commit()
    assert "klachten in de laatste 30 dagen" in page(admin_client, "/staff/")


# 5. CSV import ------------------------------------------------------------------------


@pytest.mark.usefixtures("audience")
def test_an_import_skips_undeliverable_addresses_and_lists_them(
    app: Flask, admin_client: FlaskClient
) -> None:
    bounce(app, NL)
    public_id = contact_of(app, NL).public_id
    text = f"naam;e-mail\nNieuw;new@example.be\nBounced;{NL.upper()}\n"
    response = import_csv(admin_client, text)
    assert response.status_code == 200
    report = html.unescape(response.get_data(as_text=True))
    assert "Overgeslagen omdat mail naar het adres terugkomt" in report
    assert re.search(r"Regels: 3\b", report)
    with app.app_context():
        imported = db.session.scalars(
            sa.select(ConsentEvent.subject_id).where(ConsentEvent.evidence.is_not(None))
        ).all()
    assert public_id not in imported, "no consent recorded for the skipped row"
    assert contact_of(app, "new@example.be").undeliverable_at is None
    [entry] = audited(app, "contacts.import")
    assert entry.details is not None
    assert (entry.details["undeliverable"], entry.details["created"]) == (1, 1)
