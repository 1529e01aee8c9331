"""Links in newsletters go through `/r/<token>`: counted per (link, day) and nothing
else, 302 to the address exactly as written, only to the campaign's own links; the
report hides every figure below five, on the page and in the CSV."""

from __future__ import annotations

import csv
import html as markup
import io
import re

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import CampaignClickDay, CampaignLink, LinkClickDay, StaffUser, Topic
from consentapp.services import campaign_sending
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.campaign_links import link_token
from tests.flows import start
from tests.helpers import deliver, text_of
from tests.services import SMTPServer

ODD = "https://example.be/prijs?a=1&b=%C3%A9%20x#deel-2"
BODY = (
    f"Lees [het nieuws](https://example.be/nieuws) en [de prijzen]({ODD}).\n\n"
    "Of <https://example.be/kort>, of [mail ons](mailto:info@example.be)."
)


def _send(app: Flask) -> str:
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        assert topic is not None
        campaign = create_campaign(
            topic, "Nieuws", BODY, "News", "See [us](https://example.be/en)", None
        )
        public_id = campaign.public_id
    start(app, public_id)
    deliver(app)
    return public_id


def _redirects(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>)]+/r/\d+\.[\w-]+", text)


def _html(mail: object) -> str:
    return mail.get_body(("html",)).get_content()  # type: ignore[attr-defined]


def _path(url: str) -> str:
    return url[url.index("/r/") :]


def test_links_lead_through_the_counter_to_the_exact_address(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    _send(app)
    [mail] = [m for m in smtp_server.to("nl@example.be") if m["List-Id"]]
    html, text = _html(mail), text_of(mail)
    assert "https://example.be/nieuws" not in html and "https://example.be/nieuws" not in text
    assert "mailto:info@example.be" in html  # not a website: left as written
    in_html, in_text = _redirects(html), _redirects(text)
    assert len(in_html) == 3 and in_text == in_html
    targets = [client.get(_path(url)) for url in in_html]
    assert [r.status_code for r in targets] == [302, 302, 302]
    assert [r.headers["Location"] for r in targets] == [
        "https://example.be/nieuws",
        ODD,
        "https://example.be/kort",
    ]
    assert all("Set-Cookie" not in r.headers for r in targets)
    # Written as an address, the address is replaced in the text part (no "x (x)").
    assert "Of " + in_text[2] in text.replace("\r\n", "\n")


def test_every_reader_gets_the_same_links_and_a_click_keeps_only_link_and_day(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    _send(app)
    dutch = next(m for m in smtp_server.to("nl@example.be") if m["List-Id"])
    english = next(m for m in smtp_server.to("en@example.be") if m["List-Id"])
    assert _redirects(_html(dutch))[0] not in _redirects(_html(english))  # another edition
    first = _path(_redirects(_html(dutch))[0])
    for _ in range(3):
        client.get(first)
    client.head(first)  # a link checker: not a click
    with app.app_context():
        rows = db.session.execute(sa.select(LinkClickDay)).scalars().all()
        assert [(row.clicks) for row in rows] == [3]
        assert set(LinkClickDay.__table__.columns.keys()) == {"link_id", "day", "clicks"}
        kept = db.session.execute(sa.select(CampaignClickDay)).scalars().all()
        assert [row.clicks for row in kept] == [3]  # the campaign's day, for the report
        assert set(CampaignClickDay.__table__.columns.keys()) == {"campaign_id", "day", "clicks"}


def test_only_the_campaigns_own_links_can_be_reached(
    app: Flask, client: FlaskClient, smtp_server: SMTPServer, audience: None
) -> None:
    _send(app)
    [mail] = [m for m in smtp_server.to("nl@example.be") if m["List-Id"]]
    good = _path(_redirects(_html(mail))[0])
    with app.app_context():
        unknown = link_token(10_000)
    for path in (
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        "/r/https%3A%2F%2Fevil.example",
        "/r/1",
        f"/r/{unknown}",
        "/r/" + "x" * 300,
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Location" not in response.headers
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LinkClickDay)) == 0


def test_a_test_mail_links_straight_and_records_no_link(
    app: Flask, staff_client: FlaskClient, smtp_server: SMTPServer
) -> None:
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        assert topic is not None
        campaign = create_campaign(topic, "Nieuws", BODY, "News", BODY, None)
        actor = db.session.scalars(sa.select(StaffUser)).first()
        assert actor is not None
        campaign_sending.send_test(campaign, actor)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CampaignLink)) == 0
        public_id = campaign.public_id
    deliver(app)
    [mail, *_] = [m for m in smtp_server.handler.messages if "[TEST]" in str(m["Subject"])]
    assert "https://example.be/nieuws" in _html(mail)
    # Its "view in browser" link leads to the campaign's preview in the staff area.
    [copy] = re.findall(r'href="[^"]*(/staff/campaigns/[^"#]+)#(preview-[a-z]+)"', _html(mail))
    assert copy[0] == f"/staff/campaigns/{public_id}"
    page = staff_client.get(copy[0])
    assert page.status_code == 200 and f'id="{copy[1]}"' in page.get_data(as_text=True)


def _figures(html: str) -> list[str]:
    section = html[html.index('id="clicks-title"') :]
    section = section[: section.index("</section>")]
    total = re.findall(r'<span class="number">([^<]*)</span>', section)
    cells = total + re.findall(r'<td class="num">([^<]*)</td>', section)
    return [markup.unescape(cell) for cell in cells]


def _csv_figures(body: str) -> list[str]:
    return [row[2] for row in list(csv.reader(io.StringIO(body)))[1:]]


def test_the_report_shows_no_figure_below_five(
    app: Flask,
    client: FlaskClient,
    admin_client: FlaskClient,
    smtp_server: SMTPServer,
    audience: None,
) -> None:
    public_id = _send(app)
    [mail] = [m for m in smtp_server.to("nl@example.be") if m["List-Id"]]
    links = [_path(url) for url in _redirects(_html(mail))]
    page = f"/staff/campaigns/{public_id}"
    for clicks_so_far in range(1, 5):
        client.get(links[0])
        shown = _figures(admin_client.get(page).get_data(as_text=True))
        exported = _csv_figures(admin_client.get(page + "/clicks.csv").get_data(as_text=True))
        for figure in shown + exported:
            assert figure in ("< 5", "—", "withheld") or int(figure.replace(",", "")) >= 5, (
                clicks_so_far,
                figure,
            )
    for _ in range(4):
        client.get(links[0])  # 8 on the first link
    for _ in range(2):
        client.get(links[1])  # 2 on the second: hidden, and the third (0) with it
    html = admin_client.get(page).get_data(as_text=True)
    figures = _figures(html)
    assert figures[0] == "10"  # the total
    # Per link: the English one (0), then the Dutch ones (8, 2, 0).
    assert figures[1:5] == ["< 5", "8", "< 5", "< 5"]
    exported = admin_client.get(page + "/clicks.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert ["link", ODD, "< 5"] in rows and ["total", "", "10"] in rows
    for figure in figures + _csv_figures(exported.get_data(as_text=True)):
        assert figure in ("< 5", "—", "withheld") or int(figure.replace(",", "")) >= 5
