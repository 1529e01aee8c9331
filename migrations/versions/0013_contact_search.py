"""Trigram index for contact search on SQLite

Revision ID: 0013_contact_search
Revises: 0012_outgoing_webhooks
Create Date: 2026-12-03 12:00:00

Staff search contacts by any part of `search_text` (`LIKE '%term%'`). PostgreSQL has
its GIN trigram index since 0006. On SQLite, `contacts_search` is an FTS5 table with
the trigram tokenizer over `contacts.search_text` (external content, `detail=none`:
per trigram only the ids of the contacts that contain it), kept by triggers so that
every write to `contacts`, through the ORM or plain SQL, keeps it. See
`consentapp/services/contact_search.py`.

A later migration that rebuilds `contacts` (a batch operation on SQLite) drops these
triggers with the old table and must create them again.
"""

from alembic import op


revision = "0013_contact_search"
down_revision = "0012_outgoing_webhooks"
branch_labels = None
depends_on = None

TRIGGERS = {
    "contacts_search_insert": """
        CREATE TRIGGER contacts_search_insert AFTER INSERT ON contacts BEGIN
            INSERT INTO contacts_search(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
    "contacts_search_delete": """
        CREATE TRIGGER contacts_search_delete AFTER DELETE ON contacts BEGIN
            INSERT INTO contacts_search(contacts_search, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
        END""",
    "contacts_search_update": """
        CREATE TRIGGER contacts_search_update AFTER UPDATE OF search_text ON contacts BEGIN
            INSERT INTO contacts_search(contacts_search, rowid, search_text)
            VALUES ('delete', old.id, old.search_text);
            INSERT INTO contacts_search(rowid, search_text) VALUES (new.id, new.search_text);
        END""",
}


def upgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE contacts_search USING fts5(search_text, content='contacts', "
        "content_rowid='id', tokenize='trigram', detail=none)"
    )
    for statement in TRIGGERS.values():
        op.execute(statement)
    op.execute("INSERT INTO contacts_search(contacts_search) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS contacts_search")
