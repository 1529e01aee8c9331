"""Legal bases, recipient categories and transfers in the record of processing

Revision ID: 0016_notice_basis
Revises: 0014_link_clicks
Create Date: 2026-12-03 17:00:00

Each processing activity names its legal bases (art. 6(1)) and its categories of
recipients as keys of a fixed vocabulary (`consentapp/services/processing_terms.py`),
and says whether its data leaves the EEA. The privacy notice lists them per purpose.
The pre-filled activities get their keys; a register that already exists gets the new
"Personal newsletter statistics" activity (opt-in consent) at its end.
"""

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op


revision = "0016_notice_basis"
down_revision = "0014_link_clicks"
branch_labels = None
depends_on = None

# The pre-filled activities by name, as of this revision: (bases, recipient kinds).
PREFILLED = {
    "Questions and customer contact": ("consent contract", "hosting mail_relay partners"),
    "Newsletters": ("consent", "hosting mail_relay"),
    "Invoicing and accounting": ("legal_obligation", "hosting accountant authorities"),
    "Data-subject requests and disclosures": (
        "legal_obligation",
        "hosting mail_relay authorities",
    ),
}

SECURITY = (
    "Access only for staff accounts with roles; argon2 password hashes, optional second "
    "factor, lockout after failed logins; every access to personal data in a hash-chained "
    "audit log; HTTPS, strict security headers; only strictly necessary cookies."
)

STATISTICS = {
    "name": "Personal newsletter statistics",
    "purposes": "Only for subscribers who opted in: counting which links in our "
    "newsletters each of them clicks, to learn what interests them.",
    "legal_basis": "Separate consent, asked apart from the newsletter itself and "
    "recorded with the privacy-notice version shown (art. 6.1.a).",
    "data_categories": "E-mail address, the newsletters sent, the links clicked and when.",
    "subject_categories": "Subscribers who opted in to personal statistics.",
    "recipients": "Qualified staff; the hosting provider that stores the data.",
    "transfers": "None outside the European Economic Area.",
    "retention": "Until the person withdraws this consent, unsubscribes or asks for "
    "erasure; the personal click records are then erased.",
    "security": SECURITY,
    "bases": "consent",
    "recipient_kinds": "hosting",
}

ACTIVITIES = sa.table(
    "processing_activities",
    *(sa.column(name) for name in ("position", "updated_at", "outside_eea", *STATISTICS)),
)


def upgrade():
    with op.batch_alter_table("processing_activities") as batch:
        batch.add_column(
            sa.Column("bases", sa.String(length=200), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("recipient_kinds", sa.String(length=200), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("outside_eea", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    connection = op.get_bind()
    for name, (bases, kinds) in PREFILLED.items():
        connection.execute(
            ACTIVITIES.update()
            .where(ACTIVITIES.c.name == name)
            .values(bases=bases, recipient_kinds=kinds)
        )
    count, last = connection.execute(
        sa.select(sa.func.count(), sa.func.max(ACTIVITIES.c.position))
    ).one()
    known = connection.execute(
        sa.select(sa.func.count()).where(ACTIVITIES.c.name == STATISTICS["name"])
    ).scalar()
    if count and not known:
        connection.execute(
            ACTIVITIES.insert().values(
                position=last + 1,
                updated_at=datetime.now(timezone.utc).replace(tzinfo=None),
                outside_eea=False,
                **STATISTICS,
            )
        )


def downgrade():
    op.execute(sa.delete(ACTIVITIES).where(ACTIVITIES.c.name == STATISTICS["name"]))
    with op.batch_alter_table("processing_activities") as batch:
        batch.drop_column("outside_eea")
        batch.drop_column("recipient_kinds")
        batch.drop_column("bases")
