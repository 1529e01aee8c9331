"""An admin approves disclosures and campaigns in their own session

Revision ID: 0007_approvals
Revises: 0006_contact_search
Create Date: 2026-12-01 20:30:00

Disclosures: the approving admin was chosen from a list by whoever recorded it. Now it
stays empty until an admin approves in their own session (`approved_at`). Existing
rows recorded by the admin they name count as approved then; the others wait for an
admin (the name chosen at the time stays in the audit log). A withholding from the
person's access copy now carries the admin who decided it and the reason; existing
withholdings are kept as they were (the register shows them without a reason).

Campaigns: who submitted a draft for approval and which admin sent or scheduled it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_approvals"
down_revision = "0006_contact_search"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.alter_column("approved_by_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("withheld_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("withhold_reason", sa.String(length=1000), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_disclosures_withheld_by_id_staff_users"),
            "staff_users",
            ["withheld_by_id"],
            ["id"],
        )
    op.execute(
        "UPDATE disclosures SET approved_at = created_at WHERE approved_by_id = recorded_by_id"
    )
    op.execute("UPDATE disclosures SET approved_by_id = NULL WHERE approved_at IS NULL")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_submitted_by_id_staff_users"),
            "staff_users",
            ["submitted_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_approved_by_id_staff_users"),
            "staff_users",
            ["approved_by_id"],
            ["id"],
        )


def downgrade():
    op.execute("UPDATE campaigns SET status = 'draft' WHERE status = 'submitted'")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_campaigns_approved_by_id_staff_users"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_campaigns_submitted_by_id_staff_users"), type_="foreignkey"
        )
        batch_op.drop_column("approved_by_id")
        batch_op.drop_column("submitted_by_id")

    # The old schema needs an approver: the one who recorded it is the only name we have.
    op.execute(
        "UPDATE disclosures SET approved_by_id = recorded_by_id WHERE approved_by_id IS NULL"
    )
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_disclosures_withheld_by_id_staff_users"), type_="foreignkey"
        )
        batch_op.drop_column("withhold_reason")
        batch_op.drop_column("withheld_by_id")
        batch_op.drop_column("approved_at")
        batch_op.alter_column("approved_by_id", existing_type=sa.Integer(), nullable=False)
