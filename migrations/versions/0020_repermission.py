"""Re-permission rounds, and notices that change the purposes

Revision ID: 0020_repermission
Revises: 0019_campaign_audiences
Create Date: 2026-12-04 02:40:00

`repermissions` is one round of "do you still want this?" mails, `repermission_asks`
one person's question about one topic; `privacy_notices.purposes_changed` marks a
version published as changing the purposes, for which the notice page offers a round.

A downgrade keeps the ledger rows with the channels `repermission` and `lapsed`
(the ledger is append-only); the code of before this revision cannot name them.
"""

import sqlalchemy as sa
from alembic import op


revision = "0020_repermission"
down_revision = "0019_campaign_audiences"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "repermissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("months", sa.Integer(), nullable=True),
        sa.Column("notice_version", sa.Integer(), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("lapsed", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["staff_users.id"],
            name=op.f("fk_repermissions_created_by_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["staff_users.id"],
            name=op.f("fk_repermissions_closed_by_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repermissions")),
        sa.UniqueConstraint("public_id", name=op.f("uq_repermissions_public_id")),
    )
    op.create_table(
        "repermission_asks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("repermission_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("mailed", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("lapsed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repermission_id"],
            ["repermissions.id"],
            name=op.f("fk_repermission_asks_repermission_id_repermissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_repermission_asks_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_repermission_asks_topic_id_topics")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repermission_asks")),
        sa.UniqueConstraint(
            "repermission_id", "contact_id", "topic_id", name="uq_repermission_asks_person_topic"
        ),
    )
    op.create_index(
        "ix_repermission_asks_mailing",
        "repermission_asks",
        ["repermission_id", "mailed", "contact_id"],
        unique=False,
    )
    # A plain ADD COLUMN: rebuilding the table would drop its append-only guards.
    op.add_column(
        "privacy_notices",
        sa.Column("purposes_changed", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    with op.batch_alter_table("privacy_notices") as batch:
        batch.drop_column("purposes_changed")
    if op.get_context().dialect.name == "sqlite":
        # SQLite rebuilt the table without its append-only guards: put them back.
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS privacy_notices_no_{event.lower()} BEFORE {event}"
                " ON privacy_notices BEGIN SELECT RAISE(ABORT, 'privacy_notices is append-only');"
                " END"
            )
    op.drop_index("ix_repermission_asks_mailing", table_name="repermission_asks")
    op.drop_table("repermission_asks")
    op.drop_table("repermissions")
