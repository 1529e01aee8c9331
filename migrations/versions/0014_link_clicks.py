"""Link clicks

Revision ID: 0014_link_clicks
Revises: 0013_contact_search
Create Date: 2026-12-03 16:40:00

The links of each campaign (`campaign_links`) that the redirect `/r/<token>` leads
to, and their clicks counted per day without any person (`link_click_days`).
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


def downgrade():
    op.drop_table("link_click_days")
    op.drop_index(op.f("ix_campaign_links_campaign_id"), table_name="campaign_links")
    op.drop_table("campaign_links")
