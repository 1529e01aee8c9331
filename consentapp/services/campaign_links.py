"""The links of a campaign and the clicks on them, counted without watching anyone.

When a campaign is queued, each http(s) link of each language's text becomes a
`CampaignLink` and the mail links to `/r/<token>` instead: the token is the link's
id, signed, so it leads only to an address the campaign itself holds (no open
redirect), and it is the same in every recipient's mail (the link is not personal).
A click adds one to the (link, day) row and answers 302 with the address exactly as
written. Nothing about the person, their address, cookie or IP is kept.

Only those who agreed to personal statistics get personal links (the link id and
their signed public id) and, where staff switched it on, an open pixel: their clicks
and opens are `PersonalStatistic` rows, recorded while that consent holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, Signer

from consentapp.extensions import db
from consentapp.keyring import serializer_keys
from consentapp.links import external_url
from consentapp.models import (
    Campaign,
    CampaignLink,
    Contact,
    PersonalStatistic,
    utcnow,
)
from consentapp.services.click_tally import add_clicks, tally
from consentapp.services.contacts import find_contact_by_public_id
from consentapp.services.dialects import dialect_insert
from consentapp.tokens import Purpose, Token, TokenError, make_token, read_token, token_matches

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


def personal_redirect_url(link_id: int, contact: Contact) -> str:
    """The same redirect, naming the reader: only in the mails of those who agreed to
    personal statistics. It dies with the address or the contact, like every link."""
    return external_url("public.follow_link", token=make_token(Purpose.CLICK, contact, l=link_id))


def pixel_url(campaign: Campaign, contact: Contact) -> str:
    """The open pixel of one reader who agreed to personal statistics."""
    return external_url("public.open_pixel", token=make_token(Purpose.OPEN, contact, k=campaign.id))


def link_stand_in(stand_in: str, link_id: int) -> str:
    """Where a link's address goes in a mail rendered once for many readers; ended by
    a dash, so that link 1's stand-in is no prefix of link 12's."""
    return f"{stand_in}link-{link_id}-"


def link_values(stand_in: str, link_ids: Iterable[int], contact: Contact | None) -> dict[str, str]:
    """Each link's stand-in → its address for this reader: personal for a `contact`
    (one who agreed to personal statistics), the same for everyone otherwise."""
    return {
        link_stand_in(stand_in, link_id): personal_redirect_url(link_id, contact)
        if contact is not None
        else redirect_url(link_id)
        for link_id in link_ids
    }


class CampaignLinks:
    """The campaign's links, created the first time a text is rendered for queueing and
    found again for every later batch (the queue holds the campaign's row lock)."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        rows = db.session.scalars(
            sa.select(CampaignLink).where(CampaignLink.campaign_id == campaign.id)
        )
        self.known = {(row.language, row.url): row for row in rows}

    def mapper(self, language: str, stand_in: str, used: list[int]) -> Callable[[str], str]:
        """For the Markdown renderer: an address of this language's text → the stand-in
        of its link (collected in `used`), which each reader's mail fills in. Other
        schemes (mailto:) are left as they are."""

        def to_stand_in(url: str) -> str:
            if not url.startswith(TRACKED_SCHEMES):
                return url
            link_id = self.link(language, url).id
            used.append(link_id)
            return link_stand_in(stand_in, link_id)

        return to_stand_in

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


def target_of(link_id: int) -> tuple[str, int] | None:
    """Where a link leads and its campaign, from the process cache or the database."""
    cache: dict[int, tuple[str, int]] = current_app.extensions.setdefault(
        "campaign_link_targets", {}
    )
    found = cache.get(link_id)
    if found is None:
        row = db.session.execute(
            sa.select(CampaignLink.url, CampaignLink.campaign_id).where(CampaignLink.id == link_id)
        ).first()
        if row is None:
            return None
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        found = cache[link_id] = (str(row[0]), int(row[1]))
    return found


def read_click(token: str) -> tuple[int, Contact | None] | None:
    """A redirect token: the anonymous one (link id), or a personal one (link id and
    the reader, None when the reader no longer agrees or is gone). None: not genuine."""
    link_id = read_link_token(token)
    if link_id is not None:
        return link_id, None
    try:
        parsed = read_token(Purpose.CLICK, token)
    except TokenError:
        return None
    link_id = parsed.payload.get("l")
    if not isinstance(link_id, int):
        return None
    return link_id, consenting(parsed)


def consenting(parsed: Token) -> Contact | None:
    """The reader of a personal link, if they still have its address and still agree
    to personal statistics."""
    contact = find_contact_by_public_id(parsed.public_id)
    if contact is None or not token_matches(parsed, contact.email):
        return None
    return contact if contact.statistics_since is not None else None


def record_personal(contact: Contact, campaign_id: int, link_id: int | None) -> None:
    """One click of a reader, written only if they still agree when it is written: the
    consent is read again in the INSERT itself, under a share lock on the contact's row
    (PostgreSQL; SQLite has one writer), so a withdrawal committing meanwhile either
    waits for this row and deletes it, or is seen and nothing is written. No commit."""
    still_agreeing = (
        sa.select(
            Contact.id,
            sa.literal(campaign_id),
            sa.literal(link_id, sa.Integer),
            sa.literal(utcnow(), sa.DateTime),
        )
        .where(Contact.id == contact.id, Contact.statistics_since.is_not(None))
        .with_for_update(read=True)
    )
    db.session.execute(
        sa.insert(PersonalStatistic).from_select(
            ["contact_id", "campaign_id", "link_id", "occurred_at"], still_agreeing
        )
    )


def count_open(token: str) -> None:
    """An open pixel was fetched: recorded once per campaign for a consenting reader,
    nothing for anything else. Commits."""
    try:
        parsed = read_token(Purpose.OPEN, token)
    except TokenError:
        return
    campaign_id = parsed.payload.get("k")
    contact = consenting(parsed)
    if contact is None or not isinstance(campaign_id, int):
        return
    if db.session.get(Campaign, campaign_id) is None:
        return
    # A second fetch (or two at once) finds the open recorded: the unique index says so.
    db.session.execute(
        dialect_insert(PersonalStatistic)
        .values(contact_id=contact.id, campaign_id=campaign_id, link_id=None, occurred_at=utcnow())
        .on_conflict_do_nothing()
    )
    db.session.commit()


def count_click(link_id: int) -> None:
    """One more click on the link today: held by this process's tally and written with
    the next batch (see click_tally.py), or written now when there is none. Commits
    what the request wrote (a personal record the caller added, if any)."""
    day = local_day(utcnow())
    held = tally()
    if held is None:
        add_clicks({(link_id, day): 1})
    else:
        held.add(link_id, day)
    # Asking a session that was never made would make one, for nothing to commit.
    if db.session.registry.has() and db.session().in_transaction():
        db.session.commit()
