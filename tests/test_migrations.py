"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from consentapp.extensions import db
from consentapp.models import GENESIS_HASH, AuditEntry, Base, canonical_json, in_models
from consentapp.services.audit import verify_chain


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


def _old_style_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """How entries were hashed before 0008: the address in the clear, unsalted details."""
    fields = {key: row[key] for key in OLD_HASHED}
    fields["occurred_at"] = row["occurred_at"].replace(tzinfo=UTC).isoformat()
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()


OLD_HASHED = (
    "id",
    "occurred_at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "client_address",
    "details_sha256",
)


def _old_style_entries() -> list[dict[str, Any]]:
    moment = datetime(2026, 11, 30, 9, 0, 0, 123456)
    rows: list[dict[str, Any]] = []
    previous = GENESIS_HASH
    for number, (address, details, redacted) in enumerate(
        [
            ("198.51.100.9", {"reason": "first"}, False),
            ("198.51.100.9", None, True),  # blanked by an erasure before 0008
            ("127.0.0.1", {"fields": ["name"]}, False),
        ],
        start=1,
    ):
        digest = hashlib.sha256(canonical_json({"gone": True} if redacted else details).encode())
        row: dict[str, Any] = {
            "id": number,
            "occurred_at": moment,
            "actor_id": None,
            "actor_label": "",
            "action": "contact.view",
            "target_type": "contact",
            "target_id": "abc",
            "client_address": address,
            "details": details,
            "details_sha256": digest.hexdigest(),
            "redacted_at": moment if redacted else None,
            "prev_hash": previous,
        }
        row["entry_hash"] = previous = _old_style_hash(previous, row)
        rows.append(row)
    return rows


def test_upgrade_rehashes_old_entries_and_names_earlier_erasures(app: Flask) -> None:
    """Entries written before 0008 verify after it; a blank from an earlier erasure is
    covered by one redaction entry, and loses its client address too. Downgrading
    gives back a chain the old way verifies."""
    with app.app_context():
        db.session.remove()
        downgrade(revision="0007_approvals")
        entries = sa.table(
            "audit_entries",
            *(sa.column(name) for name in (*OLD_HASHED, "redacted_at", "prev_hash", "entry_hash")),
            sa.column("details", sa.JSON),
        )
        rows = _old_style_entries()
        with db.engine.begin() as connection:
            connection.execute(sa.insert(entries), rows)
            connection.execute(
                sa.text("UPDATE audit_head SET last_id = 3, last_hash = :hash"),
                {"hash": rows[-1]["entry_hash"]},
            )
        upgrade()

        report = verify_chain()
        assert report.ok, report
        assert report.checked == 4
        blanked = db.session.get(AuditEntry, 2)
        assert blanked is not None and blanked.client_address is None
        redaction = db.session.get(AuditEntry, 4)
        assert redaction is not None and redaction.action == "audit.redacted"
        assert redaction.details is not None and redaction.details["entries"] == [2]
        db.session.remove()

        downgrade(revision="0007_approvals")
        with db.engine.connect() as connection:
            old = [
                dict(row._mapping)
                for row in connection.execute(sa.text("SELECT * FROM audit_entries ORDER BY id"))
            ]
            head = connection.execute(sa.text("SELECT last_id, last_hash FROM audit_head")).one()
        previous = GENESIS_HASH
        for row in old:
            if isinstance(row["occurred_at"], str):
                row["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
            assert row["prev_hash"] == previous
            assert _old_style_hash(previous, row) == row["entry_hash"], row["id"]
            previous = row["entry_hash"]
        assert tuple(head) == (4, previous)
        upgrade()


def _read(*statements: str) -> list[list[tuple[Any, ...]]]:
    """The rows of each statement, as tuples."""
    with db.engine.connect() as connection:
        return [[tuple(row) for row in connection.execute(sa.text(sql))] for sql in statements]


def _old_campaign(
    connection: sa.Connection, number: int, status: str, cursor: int, queued_all: bool
) -> None:
    """A campaign row of the columns older revisions have (later ones have defaults);
    the first also makes its topic (id 7)."""
    if number == 1:
        connection.execute(
            sa.text(
                "INSERT INTO topics (id, slug, label_nl, label_en, description_nl,"
                " description_en, active, position)"
                " VALUES (7, 'oud', 'Oud', 'Old', '', '', :yes, 1)"
            ),
            {"yes": True},
        )
    connection.execute(
        sa.text(
            "INSERT INTO campaigns (id, public_id, topic_id, subject_nl, body_nl,"
            " subject_en, body_en, status, queue_cursor, queued_all, recipients,"
            " consecutive_failures, created_at)"
            " VALUES (:id, :public_id, 7, 'S', 'B', '', '', :status, :cursor,"
            " :queued_all, 0, 0, :now)"
        ),
        {
            "id": number,
            "public_id": f"old-{number}",
            "status": status,
            "cursor": cursor,
            "queued_all": queued_all,
            "now": datetime(2026, 1, 1),
        },
    )


def test_campaigns_written_before_audiences_go_to_their_one_topic(app: Flask) -> None:
    """0019 lists each older campaign's topic as its audience, and starts the cursor of
    one still queueing again (it now walks contacts, not subscriptions)."""
    with app.app_context():
        db.session.remove()
        downgrade(revision="0018_unsubscribe_feedback")
        with db.engine.begin() as connection:
            for number, queued_all in ((1, True), (2, False)):
                _old_campaign(connection, number, "sending", 40, queued_all)
        upgrade()
        listed, cursors = _read(
            "SELECT campaign_id, topic_id FROM campaign_topics ORDER BY campaign_id",
            "SELECT queue_cursor, customers_only FROM campaigns ORDER BY id",
        )
        assert listed == [(1, 7), (2, 7)]
        assert [(row[0], bool(row[1])) for row in cursors] == [(40, False), (0, False)]


def test_click_totals_are_filled_from_the_day_rows_already_there(app: Flask) -> None:
    """0021 gives each link the sum of its (link, day) rows and each campaign its days."""
    with app.app_context():
        db.session.remove()
        downgrade(revision="0020_repermission")
        with db.engine.begin() as connection:
            _old_campaign(connection, 1, "sent", 0, True)
            for link in (1, 2, 3):
                connection.execute(
                    sa.text(
                        "INSERT INTO campaign_links (id, campaign_id, language, position, url)"
                        " VALUES (:id, 1, 'nl', :id, :url)"
                    ),
                    {"id": link, "url": f"https://example.be/{link}"},
                )
            days = [(1, "2026-01-02", 4), (1, "2026-01-03", 6), (2, "2026-01-03", 5)]
            for link, day, clicks in days:
                connection.execute(
                    sa.text("INSERT INTO link_click_days VALUES (:link, :day, :clicks)"),
                    {"link": link, "day": datetime.fromisoformat(day).date(), "clicks": clicks},
                )
        upgrade()
        totals, per_day = _read(
            "SELECT id, clicks FROM campaign_links ORDER BY id",
            "SELECT campaign_id, day, clicks FROM campaign_click_days ORDER BY day",
        )
        assert totals == [(1, 10), (2, 5), (3, 0)]
        assert [(row[0], str(row[1]), row[2]) for row in per_day] == [
            (1, "2026-01-02", 4),
            (1, "2026-01-03", 11),
        ]
