"""Unsubscribe feedback, as counts only

Revision ID: 0018_unsubscribe_feedback
Revises: 0017_campaign_archive
Create Date: 2026-12-03 16:40:00

`unsubscribe_feedback` counts the answers to the question asked after unsubscribing,
per campaign (or per month without one); `unsubscribe_feedback_nonces` holds the
hashes of the forms already answered until the day they expire. Neither has a row id,
and on SQLite both are `WITHOUT ROWID`, so the order of answers is not kept.
"""

import sqlalchemy as sa
from alembic import op


revision = "0018_unsubscribe_feedback"
down_revision = "0017_campaign_archive"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "unsubscribe_feedback",
        sa.Column("campaign", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "campaign", "answer", "period", name=op.f("pk_unsubscribe_feedback")
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "unsubscribe_feedback_nonces",
        sa.Column("nonce_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("nonce_sha256", name=op.f("pk_unsubscribe_feedback_nonces")),
        sqlite_with_rowid=False,
    )


def downgrade():
    op.drop_table("unsubscribe_feedback_nonces")
    op.drop_table("unsubscribe_feedback")
