"""The topics that reached the recipient of a campaign mail

Revision ID: 0022_reached_topics
Revises: 0021_click_totals
Create Date: 2026-12-05 12:00:00

`outbound_emails.reached_topics` lists the topic ids through which a campaign mail's
recipient was reached: the topics its footer names and its one-click link leaves. The
last consent check before sending asks for one of those. Mails queued before this
revision keep it empty and are checked against all the campaign's topics, as before.
"""

import sqlalchemy as sa
from alembic import op


revision = "0022_reached_topics"
down_revision = "0021_click_totals"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("outbound_emails", sa.Column("reached_topics", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("outbound_emails") as batch:
        batch.drop_column("reached_topics")
