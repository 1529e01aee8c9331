"""The staff contact search: which contacts contain a text (P3).

The rule is one: a contact matches when its `search_text` (name, e-mail address and
company, case-folded in Python) contains the case-folded text. `LIKE '%text%'` states
it; no ordinary index answers that, so each database has one of its own:

- PostgreSQL: a GIN trigram index on `search_text` (pg_trgm, migration 0006), which
  serves the `LIKE` itself.
- SQLite: `contacts_search`, an FTS5 table with the trigram tokenizer (migration 0013),
  kept by triggers on `contacts`, so every write path (the ORM, imports, plain SQL)
  keeps it. It has no content of its own (`content='contacts'`) and `detail=none`: it
  holds, per trigram, the ids of the contacts that contain it, nothing else. A text of
  three characters or more asks it for the contacts that contain every trigram of the
  text; the `LIKE` then keeps exactly those that contain the text. A shorter text has
  no trigram, and a text whose trigrams are in thousands of contacts narrows nothing:
  both are tested against the contacts with the `LIKE` alone.

An erasure or a deleted contact leaves its trigrams in the FTS5 segments until they are
merged (SQLite 3.40 records a deletion as a marker): after such a commit the table is
merged into one segment (`optimize`, see `storage_scrub`), and `secure_delete` zeroes
the segments it replaces.
"""

from __future__ import annotations

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import Contact

INDEX_TABLE = "contacts_search"
TRIGRAM = 3
# Beyond this many candidates the `LIKE` alone is quicker: see `text_filter`.
CANDIDATES_AT_MOST = 5_000


def search_term(query: str) -> str:
    """The text searched for: case-folded like `search_text`; `%` and `_` (the `LIKE`
    wildcards) dropped."""
    return query.strip().casefold().replace("%", "").replace("_", "")


def trigram_match(term: str) -> str | None:
    """The FTS5 query for the contacts that contain every trigram of `term`, or None
    when `term` is too short to have one. Each trigram is a quoted string (quotes
    doubled), so no character of the text is read as FTS5 syntax. A trigram with a NUL
    is left out (FTS5 reads its query up to a NUL): fewer trigrams only let more
    candidates through to the `LIKE`."""
    every = {term[i : i + TRIGRAM] for i in range(len(term) - TRIGRAM + 1)}
    trigrams = sorted(trigram for trigram in every if "\x00" not in trigram)
    if not trigrams:
        return None
    return " AND ".join('"' + trigram.replace('"', '""') + '"' for trigram in trigrams)


def _has_index_table(connection: sa.Connection) -> bool:
    """SQLite, migrated to 0013 or later (a database built otherwise has no table and
    is searched with the `LIKE` alone)."""
    if connection.dialect.name != "sqlite":
        return False
    found = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (INDEX_TABLE,)
    ).first()
    return found is not None


def _few_candidates(connection: sa.Connection, match: str) -> bool:
    """Whether at most CANDIDATES_AT_MOST contacts have every trigram (reads no more)."""
    count = connection.exec_driver_sql(
        "SELECT count(*) FROM (SELECT rowid FROM contacts_search "
        "WHERE contacts_search MATCH ? LIMIT ?)",
        (match, CANDIDATES_AT_MOST + 1),
    ).scalar_one()
    return int(count) <= CANDIDATES_AT_MOST


def text_filter(query: str) -> sa.ColumnElement[bool] | None:
    """Contacts whose name, e-mail or company contain `query` (None: no text given).

    On SQLite the trigram table narrows the contacts down first, unless its trigrams
    are in more than CANDIDATES_AT_MOST contacts (`example.be`): the table would hand
    over all of them before the first row is shown, while reading the contacts in
    order finds a page of so common a text early. Either way the `LIKE` decides.
    """
    term = search_term(query)
    if not term:
        return None
    contains = Contact.search_text.like(f"%{term}%")
    match = trigram_match(term)
    if match is None:
        return contains
    connection = db.session.connection()
    if not _has_index_table(connection) or not _few_candidates(connection, match):
        return contains
    candidates: sa.Select[tuple[int]] = (
        sa.select(sa.literal_column("rowid"))
        .select_from(sa.table(INDEX_TABLE))
        .where(sa.literal_column(INDEX_TABLE).op("MATCH")(match))
    )
    return sa.and_(Contact.id.in_(candidates), contains)


def merge_index(connection: sa.Connection) -> None:
    """SQLite: merge the trigram table into one segment, which drops the entries of
    deleted and changed contacts; `secure_delete` zeroes the segments it replaces."""
    if _has_index_table(connection):
        connection.exec_driver_sql(
            "INSERT INTO contacts_search(contacts_search) VALUES ('optimize')"
        )
