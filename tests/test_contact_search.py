"""Contact search: the trigram table on SQLite finds exactly what `LIKE '%text%'` finds,
whatever the text, stays in step with every write to `contacts`, and keeps nothing of
an erased person in the database files."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import downgrade, upgrade
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentapp.extensions import db
from consentapp.models import Contact
from consentapp.services.contact_search import (
    CANDIDATES_AT_MOST,
    INDEX_TABLE,
    search_term,
    text_filter,
    trigram_match,
)
from consentapp.services.contacts import find_contact, find_or_create_contact
from consentapp.services.contacts_list import _matching, search_contacts
from consentapp.services.erasure import erase_person
from consentapp.services.retention import purge_unconfirmed
from tests.flows import subscribe
from tests.helpers import call, deliver, token_for

# (e-mail, name, company): accents and case, FTS5 syntax, scripts, a very long name.
PEOPLE = [
    ("emile@example.be", "Émile Zola", "Éditions Charpentier"),
    ("eve@example.be", "Eve Emile", "EMILE & co"),
    ("obrien@example.be", 'Seán O"Brien', "NEAR(a b) AND OR NOT"),
    ("star@example.be", "a*b -minus col:on", "^caret (paren)"),
    ("strasse@example.be", "Straße Groß", "İstanbul Ltd"),
    ("kanji@example.be", "東京 太郎", "株式会社 😀"),
    ("quote@example.be", '"""', "'single' \\back\\slash"),
    ("long@example.be", "Long " + "abcdefghij" * 19, "x"),
    ("percent@example.be", "100% sure_thing", "a_b%c"),
    ("anna@example.be", "Anna Peeters", "Peeters NV"),
    ("ann@example.be", "Ann", ""),
]
SYNTAX = ['"', "*", "-", ":", "^", "(", ")", "NEAR", "AND", "OR", "NOT", "+", "'", "\\"]
FRAGMENTS = [part for person in PEOPLE for part in person]


def add_people(app: Flask) -> None:
    with app.app_context():
        for email, name, company in PEOPLE:
            find_or_create_contact(email, "nl", "web_form", name=name, company=company)
        db.session.commit()


def found(query: str) -> set[int]:
    """The ids the staff search finds (inside an app context)."""
    return {contact.id for contact in search_contacts(query, per_page=10_000).contacts}


def by_like(query: str) -> set[int]:
    """The rule itself: `search_text LIKE '%term%'`, with no index to help."""
    term = search_term(query)
    statement = sa.select(Contact.id)
    if term:
        statement = statement.where(Contact.search_text.like(f"%{term}%"))
    return set(db.session.scalars(statement))


def by_python(query: str) -> set[int]:
    term = search_term(query)
    rows = db.session.execute(sa.select(Contact.id, Contact.search_text)).all()
    return {row.id for row in rows if term in row.search_text}


def check_query(query: str) -> None:
    expected = by_like(query)
    assert found(query) == expected, query
    if db.engine.dialect.name == "sqlite":  # no escape character: the plain substring
        assert expected == by_python(query), query


@st.composite
def queries(draw: st.DrawFn) -> str:
    """Slices of the stored texts (so that some match), changed in case, mixed with
    FTS5 syntax and random text, from one character to very long."""
    text = draw(st.sampled_from(FRAGMENTS))
    start = draw(st.integers(0, len(text)))
    piece = text[start : start + draw(st.integers(0, 12))]
    piece = draw(st.sampled_from([piece, piece.upper(), piece.lower(), piece.swapcase()]))
    extra = draw(st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=4)), max_size=3))
    parts = [piece, *extra]
    return "".join(draw(st.permutations(parts))) if draw(st.booleans()) else piece


def test_trigram_query_quotes_every_trigram_and_skips_short_text() -> None:
    assert trigram_match("ab") is None
    assert trigram_match('a"b') == '"a""b"'
    assert trigram_match("abcd") == '"abc" AND "bcd"'
    assert trigram_match("a\x00bcd") == '"bcd"'


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries())
def test_search_finds_what_like_finds(app: Flask, query: str) -> None:
    with app.app_context():
        if not db.session.scalar(sa.select(sa.func.count(Contact.id))):
            add_people(app)
        if db.engine.dialect.name == "postgresql":
            query = query.replace("\x00", "")  # PostgreSQL keeps no NUL; the API says 422
        check_query(query)


@pytest.mark.parametrize(
    "query",
    [
        "é",
        "É",
        "e",
        "em",
        "ÉMILE",
        "emile",
        "z",
        '"',
        '""',
        "*",
        "ß",
        "ss",
        "東京",
        "😀",
        "%",
        "_",
        "%%%",
        "0%",
        "a_b",
        "ab%c",
        "near(a b)",
        "AND OR",
        "col:on",
        "abcdefghij" * 40,
        " ann ",
        "",
    ],
)
def test_short_and_odd_queries_find_what_like_finds(app: Flask, query: str) -> None:
    add_people(app)
    with app.app_context():
        check_query(query)


def _index_is_sound() -> None:
    if db.engine.dialect.name == "sqlite":  # against the contacts it is built from
        db.session.execute(
            sa.text(f"INSERT INTO {INDEX_TABLE}({INDEX_TABLE}, rank) VALUES ('integrity-check', 1)")
        )


def test_every_write_to_contacts_keeps_the_index(app: Flask) -> None:
    add_people(app)
    with app.app_context():
        anna = find_contact("anna@example.be")
        assert anna is not None
        anna.name = "Annabel Qwerty"  # the ORM recomputes search_text
        new = find_or_create_contact("new@example.be", "nl", "web_form", name="Zygmunt Nowak")
        db.session.commit()
        db.session.execute(  # plain SQL, as an import or a script would
            sa.text(
                "INSERT INTO contacts (public_id, email, name, company, address, phone, fax, "
                "language, source_channel, created_at, updated_at, search_text) VALUES "
                "('raw1', 'raw@example.be', 'Raw', '', '', '', '', 'nl', 'import', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'raw rawlings raw@example.be')"
            )
        )
        db.session.execute(
            sa.text("UPDATE contacts SET search_text = 'eve renamed' WHERE email = :email"),
            {"email": "eve@example.be"},
        )
        db.session.execute(sa.text("DELETE FROM contacts WHERE email = 'ann@example.be'"))
        db.session.delete(new)
        db.session.commit()
        _index_is_sound()
        for query in ("qwerty", "annabel", "peeters", "rawlings", "renamed", "eve emile"):
            check_query(query)
        for gone in ("zygmunt", "nowak", "ann@example", "eve emile"):
            assert found(gone) == set(), gone
        assert len(found("qwerty")) == len(found("rawlings")) == len(found("renamed")) == 1


HOSTILE = [
    '"',
    '"abc',
    "abc*",
    "-abc",
    "search_text:abc",
    "^abc",
    "(abc",
    "abc)",
    "NEAR(abc def)",
    "abc AND",
    "OR abc",
    "NOT",
    "{abc def}",
    "'; DROP TABLE contacts; --",
    "é" * 300,
    "x" * 5000,
    "\\",
    "%_%",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_text_is_searched_not_parsed(
    app: Flask, admin_client: FlaskClient, client: FlaskClient, query: str
) -> None:
    add_people(app)
    page = admin_client.get("/staff/contacts", query_string={"q": query})
    assert page.status_code == 200
    api_query = query[:200]  # the API takes at most 200 characters
    answer = call(client, token_for(app), "/api/v1/contacts", query_string={"q": api_query})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    with app.app_context():
        check_query(query)


def test_sqlite_search_reads_the_trigram_table(app: Flask) -> None:
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the trigram table is SQLite's")
        statement = _matching("person 4242", "", "").order_by(Contact.name, Contact.id).limit(50)
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        rows = db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)).all()
        plan = " ".join(str(row[-1]) for row in rows)
        assert f"{INDEX_TABLE} VIRTUAL TABLE" in plan, plan
        assert "SEARCH contacts USING INTEGER PRIMARY KEY" in plan, plan


def test_a_text_in_thousands_of_contacts_is_searched_with_like_alone(app: Flask) -> None:
    """The table narrows a rare text down; for a common one it would hand over
    thousands of candidates first, so the `LIKE` reads the contacts itself."""
    with app.app_context():
        db.session.execute(
            sa.insert(Contact),
            [
                {
                    "public_id": f"m{n}",
                    "email": f"m{n}@many.example",
                    "name": f"Many {n}",
                    "source_channel": "import",
                    "search_text": f"many {n} m{n}@many.example",
                }
                for n in range(1, CANDIDATES_AT_MOST + 51)
            ],
        )
        db.session.commit()
        sqlite = db.engine.dialect.name == "sqlite"
        for query, narrowed in (("many.example", False), ("m4242@", True), ("many 17 ", True)):
            check_query(query)
            uses_table = INDEX_TABLE in str(text_filter(query))
            assert uses_table == (narrowed and sqlite), query
        assert len(found("many.example")) == CANDIDATES_AT_MOST + 50
        assert len(found("m4242@")) == 1


def _database_bytes(app: Flask) -> bytes:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    files = [Path(f"{url.database}{suffix}") for suffix in ("", "-wal", "-shm")]
    raw = b"".join(path.read_bytes() for path in files if path.exists())
    assert raw, "the database files were read"
    return raw


# The only text with a "j" (or a "q") in it: the first trigram starting with it is kept
# whole in the index, not as a suffix of the one before.
@pytest.mark.parametrize(
    ("name", "email", "invoiced", "gone"),
    [
        ("Jqvx Wyzkb", "jqvx.wyzkb@example.be", False, ("jqvx wyzkb", "jqvx.wyzkb", "jqv")),
        ("Anna Held", "qvzo@held.example", True, ("qvzo@held.example", "qvz")),
    ],
)
def test_erasure_leaves_no_trigram_of_the_person_in_the_sqlite_files(
    app: Flask, name: str, email: str, invoiced: bool, gone: tuple[str, ...]
) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the files of a SQLite database")
    add_people(app)
    with app.app_context():
        person = find_or_create_contact(email, "nl", "web_form", name=name)
        if invoiced:  # under a legal hold: the name stays, the address goes
            person.last_invoice_on = date.today()
        db.session.commit()
        raw = _database_bytes(app)
        assert all(needle.encode() in raw for needle in gone), "the test looks for what is there"

        erase_person(person)
        db.session.commit()
        raw = _database_bytes(app)
        for needle in gone:
            assert needle.encode() not in raw, needle
        _index_is_sound()
        assert found(email) == set()
        check_query("peeters")


def test_a_purged_sign_up_leaves_no_trigram_in_the_sqlite_files(
    app: Flask, client: FlaskClient
) -> None:
    """The retention purge removes contacts too: the same scrub follows it."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the files of a SQLite database")
    add_people(app)
    subscribe(client, "qvzo@purged.example")
    with app.app_context():
        deliver(app)
        assert b"qvz" in _database_bytes(app)
        assert purge_unconfirmed(older_than=timedelta(minutes=-1)) == 1
        raw = _database_bytes(app)
        for needle in ("qvzo@purged.example", "qvz"):
            assert needle.encode() not in raw, needle
        _index_is_sound()


def test_migration_down_and_up_on_sqlite(app: Flask) -> None:
    """Downgrading drops the table; upgrading fills it from the contacts already there
    (the schema before 0013 is written to in SQL: today's models describe today's)."""
    add_people(app)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the trigram table is SQLite's")
        db.session.remove()
        downgrade(revision="0012_outgoing_webhooks")
        names = set(
            db.session.scalars(
                sa.text("SELECT name FROM sqlite_master WHERE name LIKE 'contacts%'")
            )
        )
        assert not any(name.startswith(INDEX_TABLE) for name in names), names
        db.session.execute(
            sa.text(
                "INSERT INTO contacts (public_id, email, name, company, address, phone, fax,"
                " language, search_text, source_channel, created_at, updated_at) VALUES"
                " ('late', 'late@example.be', 'Latecomer Xyq', '', '', '', '', 'nl',"
                " 'latecomer xyq late@example.be', 'web_form', '2026-01-01', '2026-01-01')"
            )
        )
        db.session.commit()
        db.session.remove()

        upgrade()
        _index_is_sound()
        rows = db.session.scalars(
            sa.text(f"SELECT rowid FROM {INDEX_TABLE} WHERE {INDEX_TABLE} MATCH '\"xyq\"'")
        ).all()
        assert len(rows) == 1
        for query in ("latecomer", "peeters", "émile"):
            check_query(query)
