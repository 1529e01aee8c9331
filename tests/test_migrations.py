"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from consentapp.extensions import db
from consentapp.models import Base, in_models


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": in_models}
        )
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        downgrade(revision="base")
        upgrade()
        assert db.session.execute(db.text("SELECT count(*) FROM topics")).scalar() == 0


def test_postgresql_contact_search_has_a_trigram_index(postgres_url: str) -> None:
    """Search is `search_text LIKE '%term%'`: on PostgreSQL a GIN trigram index serves it."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            indexes = set(
                connection.scalars(
                    sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'contacts'")
                )
            )
            assert "ix_contacts_search_trgm" in indexes
            connection.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(
                connection.scalars(
                    sa.text("EXPLAIN SELECT id FROM contacts WHERE search_text LIKE :pattern"),
                    {"pattern": "%person 4242%"},
                )
            )
            assert "ix_contacts_search_trgm" in plan, plan
    finally:
        engine.dispose()
