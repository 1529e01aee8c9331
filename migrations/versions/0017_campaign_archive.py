"""Campaigns can be published in the public newsletter archive

Revision ID: 0017_campaign_archive
Revises: 0016_notice_basis
Create Date: 2026-12-03 17:00:00

`campaigns.in_archive`: staff opt a campaign in to the public archive (`/archive` and
the Atom feed of its topic); it shows there once it is sent. Existing campaigns stay
out of it.
"""

import sqlalchemy as sa
from alembic import op


revision = "0017_campaign_archive"
down_revision = "0016_notice_basis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("in_archive", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("in_archive")
