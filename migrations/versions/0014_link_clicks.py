"""Link clicks and personal statistics

Revision ID: 0014_link_clicks
Revises: 0013_contact_search
Create Date: 2026-12-03 16:40:00

The links of each campaign (`campaign_links`) that the redirect `/r/<token>` leads
to, their clicks counted per day without any person (`link_click_days`), and the
clicks and opens of those who agreed to personal statistics (`personal_statistics`,
`contacts.statistics_since`, `campaigns.open_pixel`).
"""

import sqlalchemy as sa
from alembic import op


revision = "0014_link_clicks"
down_revision = "0013_contact_search"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "campaign_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_links_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_links")),
        sa.UniqueConstraint(
            "campaign_id", "language", "url", name=op.f("uq_campaign_links_campaign_id")
        ),
    )
    op.create_index(op.f("ix_campaign_links_campaign_id"), "campaign_links", ["campaign_id"])
    op.create_table(
        "link_click_days",
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["campaign_links.id"],
            name=op.f("fk_link_click_days_link_id_campaign_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("link_id", "day", name=op.f("pk_link_click_days")),
    )

    op.create_table(
        "personal_statistics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_personal_statistics_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_personal_statistics_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["campaign_links.id"],
            name=op.f("fk_personal_statistics_link_id_campaign_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_statistics")),
    )
    op.create_index(
        "ix_personal_statistics_contact", "personal_statistics", ["contact_id", "occurred_at"]
    )
    op.create_index(
        op.f("ix_personal_statistics_campaign_id"), "personal_statistics", ["campaign_id"]
    )
    op.create_index(
        "uq_personal_statistics_open",
        "personal_statistics",
        ["contact_id", "campaign_id"],
        unique=True,
        sqlite_where=sa.text("link_id IS NULL"),
        postgresql_where=sa.text("link_id IS NULL"),
    )
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("statistics_since", sa.DateTime(), nullable=True))
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("open_pixel", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("open_pixel")
    # Not a batch: on SQLite that rebuilds the table and drops 0013's search triggers.
    op.execute("ALTER TABLE contacts DROP COLUMN statistics_since")
    op.drop_index(op.f("ix_personal_statistics_campaign_id"), table_name="personal_statistics")
    op.drop_index("uq_personal_statistics_open", table_name="personal_statistics")
    op.drop_index("ix_personal_statistics_contact", table_name="personal_statistics")
    op.drop_table("personal_statistics")
    op.drop_table("link_click_days")
    op.drop_index(op.f("ix_campaign_links_campaign_id"), table_name="campaign_links")
    op.drop_table("campaign_links")
