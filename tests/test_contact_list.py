"""The staff contact list and the inquiry filters: totals, the subscription column,
numbered pages, sortable columns that follow an index, counts per status."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import Contact, Inquiry, InquiryStatus, Subscription, utcnow
from consentapp.services.contacts import find_contact, find_or_create_contact
from consentapp.services.contacts_list import SORT_COLUMNS, _matching
from tests.builders import VALID, set_subscription
from tests.helpers import post_form

ROW = re.compile(r'<tr><td><a href="/staff/contacts/[^"]+">[^<]*</a></td><td>([^<]*)</td>')


def add(app: Flask, email: str, **details: str) -> None:
    with app.app_context():
        find_or_create_contact(email, "nl", "web_form", **details)
        db.session.commit()


def many(app: Flask, count: int) -> None:
    """`count` contacts in one statement, named so that their order is known."""
    with app.app_context():
        db.session.execute(
            sa.insert(Contact),
            [
                {
                    "email": f"p{n:05d}@example.be",
                    "name": f"Person {n:05d}",
                    "search_text": f"person {n:05d} p{n:05d}@example.be",
                    "source_channel": "import",
                }
                for n in range(count)
            ],
        )
        db.session.commit()


def page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/staff/contacts{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_list_says_how_many_contacts_match_the_filter(
    app: Flask, admin_client: FlaskClient
) -> None:
    many(app, 1234)
    add(app, "els@example.be", name="Els")
    set_subscription(app, "els@example.be", "service-news", "confirmed")
    assert "1.235 contacten" in page(admin_client)
    assert "1 contact<" in page(admin_client, "?status=confirmed")
    assert "1.234 contacten" in page(admin_client, "?q=person")
    assert "1,235 contacts" in page(admin_client, "?lang=en")


def test_status_filter_can_ask_for_the_last_days(app: Flask, admin_client: FlaskClient) -> None:
    for email in ("recent@example.be", "earlier@example.be"):
        add(app, email, name=email.split("@")[0].title())
        set_subscription(app, email, "service-news", "confirmed")
        set_subscription(app, email, "service-news", "unsubscribed")
    with app.app_context():
        earlier = find_contact("earlier@example.be")
        assert earlier is not None
        db.session.execute(
            sa.update(Subscription)
            .where(Subscription.contact_id == earlier.id)
            .values(unsubscribed_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()
    recent = page(admin_client, "?status=unsubscribed&days=30")
    assert "1 contact<" in recent and "recent@example.be" in recent
    assert "earlier@example.be" not in recent
    assert '<option value="30" selected>' in recent
    assert "2 contacten" in page(admin_client, "?status=unsubscribed&days=90")
    assert "2 contacten" in page(admin_client, "?status=unsubscribed&days=31"), (
        "only listed choices"
    )
    assert re.search(r'class="sort-link" href="[^"]*days=30', recent), "sorting keeps it"


def test_subscription_column_says_each_topic_and_its_state_in_words(
    app: Flask, admin_client: FlaskClient
) -> None:
    add(app, "anna@example.be", name="Anna")
    add(app, "bert@example.be", name="Bert")
    add(app, "carla@example.be", name="Carla")
    set_subscription(app, "anna@example.be", "product-updates", "confirmed")
    set_subscription(app, "anna@example.be", "service-news", "pending")
    set_subscription(app, "carla@example.be", "service-news", "unsubscribed")
    cells = re.findall(r'<td class="subscription-summary">(.*?)</td>', page(admin_client), re.S)
    texts = [re.sub(r"<[^>]+>", " ", cell).split() for cell in cells]
    assert [" ".join(words) for words in texts] == [
        "Productupdates: bevestigd Nieuws over onze diensten: wacht op bevestiging",
        "geen nieuwsbrief",
        "geen nieuwsbrief",
    ]


def pager_links(html: str) -> list[tuple[str, str]]:
    """(page number in the link, text) for each link of the pager."""
    pager = html.split('<nav class="pager"', 1)[1].split("</nav>", 1)[0]
    return [
        (number, re.sub(r"<[^>]+>", "", text).strip())
        for number, text in re.findall(r'href="[^"]*page=(\d+)[^"]*"[^>]*>(.*?)</a>', pager)
    ]


def test_pages_are_numbered_around_the_current_one(app: Flask, admin_client: FlaskClient) -> None:
    many(app, 1234)  # 25 pages of 50
    html = page(admin_client, "?page=10")
    assert pager_links(html) == [
        ("9", "← Vorige"),
        ("1", "1"),
        ("8", "8"),
        ("9", "9"),
        ("10", "10"),
        ("11", "11"),
        ("12", "12"),
        ("25", "25"),
        ("11", "Volgende →"),
    ]
    assert re.search(r'page=10[^"]*" aria-current="page"', html)
    assert ROW.findall(html)[0] == "p00450@example.be"
    last = page(admin_client, "?page=99")  # past the end: the last page
    assert ROW.findall(last)[-1] == "p01233@example.be"
    assert "Volgende" not in last


def test_a_single_page_has_no_pager(app: Flask, admin_client: FlaskClient) -> None:
    add(app, "anna@example.be", name="Anna")
    assert 'class="pager"' not in page(admin_client)


def header(html: str, title: str) -> str:
    match = re.search(r"<th[^>]*>(?:(?!</th>).)*" + re.escape(title) + r".*?</th>", html, re.S)
    assert match, title
    return match.group(0)


def test_column_headers_sort_both_ways_and_keep_the_filters(
    app: Flask, admin_client: FlaskClient
) -> None:
    for email, name in (("a@x.be", "Carla"), ("b@x.be", "Anna"), ("c@x.be", "Bert")):
        add(app, email, name=name)
        set_subscription(app, email, "service-news", "confirmed")
    html = page(admin_client, "?q=x.be&topic=service-news&status=confirmed")
    assert ROW.findall(html) == ["b@x.be", "c@x.be", "a@x.be"]
    name = header(html, "Naam")
    assert 'aria-sort="ascending"' in name
    assert "aria-sort" not in header(html, "E-mailadres")
    link = re.search(r'href="([^"]+)"', name)
    assert link
    url = link.group(1).replace("&amp;", "&")
    for kept in ("q=x.be", "topic=service-news", "status=confirmed", "sort=name", "dir=desc"):
        assert kept in url
    reversed_page = page(admin_client, url.removeprefix("/staff/contacts"))
    assert ROW.findall(reversed_page) == ["a@x.be", "c@x.be", "b@x.be"]
    assert 'aria-sort="descending"' in header(reversed_page, "Naam")
    added = re.search(r'href="([^"]+)"', header(html, "Toegevoegd"))
    assert added and "sort=created&amp;dir=desc" in added.group(1)
    assert ROW.findall(page(admin_client, "?sort=email&dir=desc")) == ["c@x.be", "b@x.be", "a@x.be"]


def test_an_unknown_sort_key_or_direction_falls_back_to_names(
    app: Flask, admin_client: FlaskClient
) -> None:
    add(app, "a@x.be", name="Bert")
    add(app, "b@x.be", name="Anna")
    html = page(admin_client, "?sort=password_hash&dir=sideways")
    assert ROW.findall(html) == ["b@x.be", "a@x.be"]
    assert 'aria-sort="ascending"' in header(html, "Naam")


def test_every_sort_reads_an_index_instead_of_sorting_the_table(app: Flask) -> None:
    """On 100k+ contacts a full sort per page would be slow: each order follows an index."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        if postgres:  # a tiny table would be read whole; ask whether an index can serve
            db.session.execute(sa.text("SET enable_seqscan = off"))
            # A sort then shows only when no index could give the order.
            db.session.execute(sa.text("SET enable_sort = off"))
        for column in SORT_COLUMNS.values():
            for order in ((column.asc(), Contact.id.asc()), (column.desc(), Contact.id.desc())):
                statement = _matching("", "", "").order_by(*order).offset(100).limit(50)
                sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
                if postgres:
                    plan = " ".join(db.session.execute(sa.text("EXPLAIN " + sql)).scalars())
                    assert "Index Scan" in plan, plan
                    assert not re.search(r"(?<!Incremental )Sort  ", plan), plan
                else:
                    rows = db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)).all()
                    plan = " ".join(str(row[-1]) for row in rows)
                    assert "USING INDEX" in plan, plan
                    assert "TEMP B-TREE" not in plan, plan
        db.session.rollback()


def test_inquiry_filters_show_how_many_each_holds(
    app: Flask, client: FlaskClient, admin_client: FlaskClient, admin_id: int
) -> None:
    for n in range(4):
        assert post_form(client, "/contact", {**VALID, "message": f"Vraag {n}"}).status_code == 302
    with app.app_context():
        first, second, third, _ = db.session.scalars(sa.select(Inquiry).order_by(Inquiry.id))
        first.status = InquiryStatus.DONE
        second.status = InquiryStatus.IN_PROGRESS
        second.assigned_to_id = admin_id
        third.assigned_to_id = admin_id
        db.session.commit()
    html = admin_client.get("/staff/inquiries").get_data(as_text=True)
    for text in ("Open (3)", "Nieuw (2)", "In behandeling (1)", "Afgehandeld (1)"):
        assert f">{text}</a>" in html, text
    mine = admin_client.get("/staff/inquiries?mine=1").get_data(as_text=True)
    for text in ("Open (2)", "Nieuw (1)", "In behandeling (1)", "Afgehandeld (0)"):
        assert f">{text}</a>" in mine, text
