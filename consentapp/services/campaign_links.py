"""The links of a campaign and the clicks on them, counted without watching anyone.

When a campaign is queued, each http(s) link of each language's text becomes a
`CampaignLink` and the mail links to `/r/<token>` instead: the token is the link's
id, signed, so it leads only to an address the campaign itself holds (no open
redirect), and it is the same in every recipient's mail (the link is not personal).
A click adds one to the (link, day) row and answers 302 with the address exactly as
written. Nothing about the person, their address, cookie or IP is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy.dialects import postgresql, sqlite

from consentapp.extensions import db
from consentapp.keyring import serializer_keys
from consentapp.links import external_url
from consentapp.models import Campaign, CampaignLink, LinkClickDay, utcnow

SALT = "consentapp.campaign-link"
TRACKED_SCHEMES = ("http://", "https://")
# Link targets never change once written: each process keeps the ones it has read.
_CACHE_SIZE = 10_000


def _signer() -> Signer:
    return Signer(serializer_keys(), salt=SALT)


def link_token(link_id: int) -> str:
    """The signed id in `/r/<token>`: short, the same for every recipient."""
    return _signer().sign(str(link_id)).decode()


def read_link_token(token: str) -> int | None:
    """The link id of a genuine token; None for anything else."""
    if len(token) > 200:
        return None
    try:
        value = _signer().unsign(token).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return int(value) if value.isdigit() and len(value) < 12 else None


def redirect_url(link_id: int) -> str:
    return external_url("public.follow_link", token=link_token(link_id))


class CampaignLinks:
    """The campaign's links, created the first time a text is rendered for queueing and
    found again for every later batch (the queue holds the campaign's row lock)."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        rows = db.session.scalars(
            sa.select(CampaignLink).where(CampaignLink.campaign_id == campaign.id)
        )
        self.known = {(row.language, row.url): row for row in rows}

    def mapper(self, language: str) -> Callable[[str], str]:
        """For the Markdown renderer: an address of this language's text → its redirect.
        Other schemes (mailto:) are left as they are."""

        def to_redirect(url: str) -> str:
            if not url.startswith(TRACKED_SCHEMES):
                return url
            return redirect_url(self.link(language, url).id)

        return to_redirect

    def link(self, language: str, url: str) -> CampaignLink:
        row = self.known.get((language, url))
        if row is None:
            position = 1 + sum(1 for lang, _ in self.known if lang == language)
            row = CampaignLink(
                campaign_id=self.campaign.id, language=language, position=position, url=url
            )
            db.session.add(row)
            db.session.flush()
            self.known[(language, url)] = row
        return row


def local_day(moment: datetime) -> date:
    """The calendar day of `moment` (UTC) in the site's time zone."""
    zone = ZoneInfo(str(current_app.config["TIMEZONE"]))
    return moment.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).date()


def target_of(link_id: int) -> str | None:
    """Where a link leads, from the process cache or the database."""
    cache: dict[int, str] = current_app.extensions.setdefault("campaign_link_targets", {})
    url = cache.get(link_id)
    if url is None:
        url = db.session.scalar(sa.select(CampaignLink.url).where(CampaignLink.id == link_id))
        if url is None:
            return None
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[link_id] = url
    return url


def count_click(link_id: int) -> None:
    """One more click on the link today: one upsert, committed."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(LinkClickDay).values(link_id=link_id, day=local_day(utcnow()), clicks=1)
    db.session.execute(
        upsert.on_conflict_do_update(
            index_elements=[LinkClickDay.link_id, LinkClickDay.day],
            set_={"clicks": LinkClickDay.clicks + 1},
        )
    )
    db.session.commit()
