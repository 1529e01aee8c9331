"""Trigram index for contact search on PostgreSQL

Revision ID: 0006_contact_search
Revises: 0005_campaigns
Create Date: 2026-11-25 23:40:00

Staff search contacts by any part of a name, e-mail address or company
(`search_text LIKE '%term%'`). On PostgreSQL a GIN trigram index (pg_trgm) answers that
without reading every contact. Creating the extension needs the right to do so (pg_trgm
is a trusted extension: a database owner may); without it the migration goes on
without the index and says so, and search stays a full scan. SQLite has no such index.
"""
import logging

import sqlalchemy as sa
from alembic import op


revision = "0006_contact_search"
down_revision = "0005_campaigns"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pg_trgm is not available (%s); contact search works without its index",
            str(exc).splitlines()[0],
        )
        return
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_contacts_search_trgm "
        "ON contacts USING gin (search_text gin_trgm_ops)"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contacts_search_trgm")
