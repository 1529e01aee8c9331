"""Staff lockouts that lift by themselves

Revision ID: 0009_lockouts
Revises: 0008_audit_redactions
Create Date: 2026-12-01 20:20:00

A lock after failed logins used to last until an admin lifted it, so anyone could shut
any staff account for good. A lock now has an end (`locked_until`) and each further lock
in a row lasts twice as long (`lock_count`). Accounts locked under the old rule count as
locked once, with that lock over: the next lock lasts twice the first.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision = "0009_lockouts"
down_revision = "0008_audit_redactions"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD/DROP COLUMN (SQLite has both since 3.35): the table keeps its identity.
    op.add_column("staff_users", sa.Column("locked_until", sa.DateTime(), nullable=True))
    op.add_column(
        "staff_users",
        sa.Column("lock_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        "UPDATE staff_users SET locked_until = locked_at, lock_count = 1 "
        "WHERE locked_at IS NOT NULL"
    )


def downgrade():
    # Under the old rule a set `locked_at` means locked: keep only locks still running.
    now = datetime.now(UTC).replace(tzinfo=None)
    op.get_bind().execute(
        sa.text(
            "UPDATE staff_users SET locked_at = NULL "
            "WHERE locked_until IS NULL OR locked_until <= :now"
        ),
        {"now": now},
    )
    op.drop_column("staff_users", "lock_count")
    op.drop_column("staff_users", "locked_until")
