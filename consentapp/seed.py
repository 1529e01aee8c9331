"""What a first run needs: the standard newsletter topics and version 1 of the
privacy notice. Each step adds only what is missing, so running it again is safe."""

from __future__ import annotations

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.i18n import supported_languages
from consentapp.models import Topic
from consentapp.services import notices
from consentapp.services.register import seed_register

TOPICS = [
    {
        "slug": "product-updates",
        "label_nl": "Productupdates",
        "label_en": "Product updates",
        "description_nl": "Nieuwe versies en belangrijke wijzigingen aan de software en "
        "hardware die u bij ons afneemt.",
        "description_en": "New releases and important changes to the software and hardware "
        "you use from us.",
    },
    {
        "slug": "service-news",
        "label_nl": "Nieuws over onze diensten",
        "label_en": "Service news",
        "description_nl": "Onderhoud, storingen en wijzigingen aan hosting, domeinnamen en "
        "Office 365.",
        "description_en": "Maintenance, outages and changes to hosting, domain names and "
        "Office 365.",
    },
    {
        "slug": "company-news",
        "label_nl": "Bedrijfsnieuws",
        "label_en": "Company news",
        "description_nl": "Nieuws over ons bedrijf en onze werking.",
        "description_en": "News about our company and the way we work.",
    },
]


def seed_topics() -> int:
    """Add the standard topics that are missing; returns how many were added."""
    existing = set(db.session.scalars(sa.select(Topic.slug)))
    added = 0
    for position, spec in enumerate(TOPICS):
        if spec["slug"] not in existing:
            db.session.add(Topic(position=position, **spec))
            added += 1
    return added


def seed_notice() -> bool:
    """Publish version 1 of the notice from our template if none exists yet.

    The notice lists the purposes of the record of processing, so the register is
    seeded first (when empty)."""
    if notices.latest_version() is not None:
        return False
    seed_register()
    db.session.flush()
    notices.publish_notice(
        {language: notices.render_notice_template(language) for language in supported_languages()}
    )
    return True
