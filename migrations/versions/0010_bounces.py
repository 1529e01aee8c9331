"""Bounces and complaints

Revision ID: 0010_bounces
Revises: 0009_lockouts
Create Date: 2026-12-02 03:00:00

Reports that come back (DSNs, complaints, provider events, refusals while sending)
are kept per contact in `bounces`; reports not yet read wait in `incoming_reports`.
A contact whose address does not take our mail carries `undeliverable_at` and its
reason.
"""

import sqlalchemy as sa
from alembic import op


revision = "0010_bounces"
down_revision = "0009_lockouts"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("contacts", sa.Column("undeliverable_at", sa.DateTime(), nullable=True))
    op.add_column(
        "contacts", sa.Column("undeliverable_reason", sa.String(length=16), nullable=True)
    )
    op.create_table(
        "bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("diagnostic", sa.String(length=1000), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("report_key", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_bounces_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_bounces_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounces")),
        sa.UniqueConstraint("report_key", name=op.f("uq_bounces_report_key")),
    )
    op.create_index("ix_bounces_contact", "bounces", ["contact_id", "occurred_at"])
    op.create_index("ix_bounces_occurred", "bounces", ["occurred_at", "id"])
    op.create_index("ix_bounces_campaign", "bounces", ["campaign_id", "kind"])
    op.create_table(
        "incoming_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incoming_reports")),
    )
    op.create_index("ix_incoming_reports_due", "incoming_reports", ["next_attempt_at", "id"])


def downgrade():
    op.drop_index("ix_incoming_reports_due", table_name="incoming_reports")
    op.drop_table("incoming_reports")
    op.drop_index("ix_bounces_campaign", table_name="bounces")
    op.drop_index("ix_bounces_occurred", table_name="bounces")
    op.drop_index("ix_bounces_contact", table_name="bounces")
    op.drop_table("bounces")
    op.drop_column("contacts", "undeliverable_reason")
    op.drop_column("contacts", "undeliverable_at")
