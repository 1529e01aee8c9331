"""CSV export of contacts: only the chosen fields, streamed, audited before it starts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import Contact, StaffUser, Subscription, Topic
from consentapp.services import audit
from consentapp.services.csv_cells import csv_line

EXPORT_FIELDS = ("email", *Contact.DETAIL_FIELDS, "language", "created_at", "subscriptions")
EXPORT_BATCH = 1000


def _export_filter(topic: str, status: str) -> sa.ColumnElement[bool] | None:
    if not topic and not status:
        return None
    chosen = sa.select(Subscription.contact_id).join(Topic)
    if topic:
        chosen = chosen.where(Topic.slug == topic)
    if status:
        chosen = chosen.where(Subscription.status == status)
    return Contact.id.in_(chosen)


def export_contacts(fields: Sequence[str], topic: str = "", status: str = "") -> Iterator[str]:
    """CSV lines, header first, fetched in batches by id so memory stays flat."""
    chosen = [name for name in EXPORT_FIELDS if name in fields]
    yield csv_line(chosen)
    condition = _export_filter(topic, status)
    last_id = 0
    while True:
        statement = sa.select(Contact).where(Contact.id > last_id)
        if condition is not None:
            statement = statement.where(condition)
        batch = list(db.session.scalars(statement.order_by(Contact.id).limit(EXPORT_BATCH)))
        if not batch:
            return
        topics_by_contact = (
            _subscriptions_for([c.id for c in batch]) if "subscriptions" in chosen else {}
        )
        for contact in batch:
            row: list[object] = []
            for name in chosen:
                if name == "subscriptions":
                    row.append(";".join(topics_by_contact.get(contact.id, [])))
                elif name == "created_at":
                    row.append(contact.created_at.isoformat(timespec="seconds"))
                else:
                    row.append(getattr(contact, name))
            yield csv_line(row)
        last_id = batch[-1].id
        db.session.expunge_all()


def _subscriptions_for(contact_ids: list[int]) -> dict[int, list[str]]:
    rows = db.session.execute(
        sa.select(Subscription.contact_id, Topic.slug, Subscription.status)
        .join(Topic)
        .where(Subscription.contact_id.in_(contact_ids))
        .order_by(Topic.position)
    )
    result: dict[int, list[str]] = {}
    for contact_id, slug, status in rows:
        result.setdefault(contact_id, []).append(f"{slug}:{status}")
    return result


def record_export(
    fields: Sequence[str], topic: str, status: str, purpose: str, actor: StaffUser
) -> None:
    """Audit an export before it starts. Commits."""
    audit.record(
        "contacts.export",
        details={"fields": list(fields), "topic": topic, "status": status, "purpose": purpose},
        actor=actor,
    )
    db.session.commit()
