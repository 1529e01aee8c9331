"""Campaign audiences of several topics, by language, or of customers only

Revision ID: 0019_campaign_audiences
Revises: 0018_unsubscribe_feedback
Create Date: 2026-12-04 02:10:00

`campaign_topics` lists every topic a campaign goes to (its main `topic_id` among
them, copied in for every existing campaign); `audience_language` and
`customers_only` narrow the audience. Recipients are now queued by contact id (each
person once however many of the topics they follow): a campaign still queueing
starts its cursor again from the beginning, and the queue skips whoever already has
the campaign's mail, which the new outbox index answers.
"""

import sqlalchemy as sa
from alembic import op


revision = "0019_campaign_audiences"
down_revision = "0018_unsubscribe_feedback"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "campaign_topics",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_topics_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"], name=op.f("fk_campaign_topics_topic_id_topics")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "topic_id", name=op.f("pk_campaign_topics")),
    )
    op.execute(
        "INSERT INTO campaign_topics (campaign_id, topic_id) SELECT id, topic_id FROM campaigns"
    )
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("audience_language", sa.String(length=8), nullable=True))
        batch.add_column(
            sa.Column(
                "customers_only", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    op.execute(
        sa.text("UPDATE campaigns SET queue_cursor = 0 WHERE queued_all = :no").bindparams(
            no=False
        )
    )
    with op.batch_alter_table("outbound_emails") as batch:
        batch.create_index(
            "ix_outbound_emails_campaign_contact", ["campaign_id", "contact_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("outbound_emails") as batch:
        batch.drop_index("ix_outbound_emails_campaign_contact")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("customers_only")
        batch.drop_column("audience_language")
    op.drop_table("campaign_topics")
