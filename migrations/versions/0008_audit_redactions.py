"""Audit log: personal fields enter the hash through a salted digest; redactions are entries

Revision ID: 0008_audit_redactions
Revises: 0007_approvals
Create Date: 2026-12-01 20:30:00

Until now each entry's hash covered its client address in the clear and an unsalted
digest of its details, so an erasure could not blank the address, and blanking the
details (`redacted_at`) was not itself recorded. Now the hash covers
`personal_sha256`, a digest of the address and details salted with `personal_salt`
(random, per entry). An erasure blanks address, details and salt, and appends an
`audit.redacted` entry naming the blanked entries.

Upgrading recomputes the whole chain in order: kept entries get a salt; entries an
earlier erasure blanked lose their client address too (it was the person's or
about them), and one `audit.redacted` entry at the end names them. Downgrading
recomputes the chain the old way; blanked entries keep their erasure mark.
"""
import hashlib
import json
import secrets
from datetime import timezone

import sqlalchemy as sa
from alembic import op


revision = "0008_audit_redactions"
down_revision = "0007_approvals"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
REDACTION = "audit.redacted"


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(row, prev_hash, personal):
    """The hash of an entry; `personal` is the old or the new way of covering its
    personal fields (a dict merged into the hashed fields)."""
    fields = {
        "id": row["id"],
        # The app hashes the aware UTC time it reads (stored naive, as UTC).
        "occurred_at": row["occurred_at"].replace(tzinfo=timezone.utc).isoformat(),
        "actor_id": row["actor_id"],
        "actor_label": row["actor_label"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        **personal,
    }
    return sha256(prev_hash + canonical_json(fields))


def personal_digest(salt, client_address, details):
    return sha256(salt + canonical_json({"client_address": client_address, "details": details}))


def entries_table(*extra):
    return sa.table(
        "audit_entries",
        sa.column("id", sa.Integer),
        sa.column("occurred_at", sa.DateTime),
        sa.column("actor_id", sa.Integer),
        sa.column("actor_label", sa.String),
        sa.column("action", sa.String),
        sa.column("target_type", sa.String),
        sa.column("target_id", sa.String),
        sa.column("client_address", sa.String),
        sa.column("details", sa.JSON),
        sa.column("redacted_at", sa.DateTime),
        sa.column("prev_hash", sa.String),
        sa.column("entry_hash", sa.String),
        *extra,
    )


HEAD = sa.table(
    "audit_head", sa.column("id", sa.Integer), sa.column("last_id", sa.Integer),
    sa.column("last_hash", sa.String),
)


def rows(connection, table):
    return [dict(row._mapping) for row in connection.execute(sa.select(table).order_by(table.c.id))]


def set_head(connection, last_id, last_hash):
    connection.execute(HEAD.update().where(HEAD.c.id == 1).values(last_id=last_id, last_hash=last_hash))


def upgrade():
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("personal_salt", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("personal_sha256", sa.String(length=64), nullable=True))

    connection = op.get_bind()
    table = entries_table(
        sa.column("details_sha256", sa.String),
        sa.column("personal_salt", sa.String),
        sa.column("personal_sha256", sa.String),
    )
    previous, last_id, blanked = GENESIS_HASH, 0, []
    for row in rows(connection, table):
        if row["redacted_at"] is not None:
            values = {"client_address": None, "details": None, "personal_salt": None,
                      "personal_sha256": row["details_sha256"]}
            blanked.append(row["id"])
        else:
            salt = secrets.token_hex(16)
            values = {"personal_salt": salt,
                      "personal_sha256": personal_digest(salt, row["client_address"], row["details"])}
        new_hash = entry_hash(row, previous, {"personal_sha256": values["personal_sha256"]})
        connection.execute(
            table.update().where(table.c.id == row["id"]).values(prev_hash=previous, entry_hash=new_hash, **values)
        )
        previous, last_id = new_hash, row["id"]

    if blanked:
        occurred_at = connection.execute(sa.select(sa.func.max(table.c.occurred_at))).scalar()
        row = {"id": last_id + 1, "occurred_at": occurred_at, "actor_id": None, "actor_label": "",
               "action": REDACTION, "target_type": "audit", "target_id": None}
        details = {"entries": blanked, "reason": "erasures before redactions were entries"}
        salt = secrets.token_hex(16)
        digest = personal_digest(salt, None, details)
        new_hash = entry_hash(row, previous, {"personal_sha256": digest})
        connection.execute(table.insert().values(
            **row, client_address=None, details=details, details_sha256=sha256(canonical_json(details)),
            personal_salt=salt, personal_sha256=digest, prev_hash=previous, entry_hash=new_hash,
        ))
        previous, last_id = new_hash, row["id"]
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(
                "SELECT setval(pg_get_serial_sequence('audit_entries', 'id'), "
                "(SELECT max(id) FROM audit_entries))"
            ))
    if last_id:
        set_head(connection, last_id, previous)

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column("personal_sha256", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("details_sha256")


def downgrade():
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("details_sha256", sa.String(length=64), nullable=True))

    connection = op.get_bind()
    table = entries_table(
        sa.column("details_sha256", sa.String),
        sa.column("personal_salt", sa.String),
        sa.column("personal_sha256", sa.String),
    )
    previous, last_id = GENESIS_HASH, 0
    for row in rows(connection, table):
        values = {"details_sha256": sha256(canonical_json(row["details"]))}
        if row["personal_salt"] is None:
            values["redacted_at"] = row["redacted_at"] or row["occurred_at"]
        personal = {"client_address": row["client_address"], "details_sha256": values["details_sha256"]}
        new_hash = entry_hash(row, previous, personal)
        connection.execute(
            table.update().where(table.c.id == row["id"]).values(prev_hash=previous, entry_hash=new_hash, **values)
        )
        previous, last_id = new_hash, row["id"]
    if last_id:
        set_head(connection, last_id, previous)

    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column("details_sha256", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("personal_sha256")
        batch_op.drop_column("personal_salt")
