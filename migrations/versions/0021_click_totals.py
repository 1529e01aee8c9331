"""Click totals per link and per campaign day, kept with the day counts

Revision ID: 0021_click_totals
Revises: 0020_repermission
Create Date: 2026-12-04 17:30:00

`campaign_links.clicks` is the sum of a link's `link_click_days` rows and
`campaign_click_days` the sum per campaign and day; the click write raises all three
in one transaction, so the campaign report reads a row per link and a row per day
instead of every (link, day) row. The upgrade fills both from the rows already there.
"""

import sqlalchemy as sa
from alembic import op


revision = "0021_click_totals"
down_revision = "0020_repermission"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("campaign_links") as batch:
        batch.add_column(sa.Column("clicks", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "campaign_click_days",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_click_days_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "day", name=op.f("pk_campaign_click_days")),
        sqlite_with_rowid=False,
    )
    op.execute(
        "UPDATE campaign_links SET clicks = (SELECT coalesce(sum(d.clicks), 0)"
        " FROM link_click_days d WHERE d.link_id = campaign_links.id)"
    )
    op.execute(
        "INSERT INTO campaign_click_days (campaign_id, day, clicks)"
        " SELECT l.campaign_id, d.day, sum(d.clicks) FROM link_click_days d"
        " JOIN campaign_links l ON l.id = d.link_id GROUP BY l.campaign_id, d.day"
    )


def downgrade():
    op.drop_table("campaign_click_days")
    with op.batch_alter_table("campaign_links") as batch:
        batch.drop_column("clicks")
