"""The one question asked after unsubscribing, counted without any link to the person.

The survey form carries a signed token naming the campaign whose link was used (or
none) and a random nonce; never the contact. An answer adds one to a counter per
campaign (or per month without a campaign) and keeps the nonce's hash until the day
the form expires, so the same form counts once. Nothing stored holds the contact, the
address, the link, the client address or a time finer than the month.

"Never asked for it" questions the consent record: the housekeeping job writes an
audit row per campaign that got such answers, at its own time rather than the
answer's, and the dashboard names those campaigns to admins.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from consentapp.extensions import db
from consentapp.keyring import serializer_keys
from consentapp.models import Campaign, FeedbackAnswer, FeedbackCount, FeedbackNonce, utcnow
from consentapp.services import audit
from consentapp.services.dialects import dialect_insert
from consentapp.tokens import Purpose, TokenError, read_token

FORM_LIFETIME = timedelta(days=1)
NO_CAMPAIGN = ""
FLAG_ACTION = "feedback.never_asked"
# Campaigns whose "never asked for it" answers the dashboard names.
FLAG_DAYS = 90


class FeedbackError(Exception):
    """An answer that cannot be counted."""


class FormInvalid(FeedbackError):
    """The form's token is tampered with or not ours."""


class FormExpired(FeedbackError):
    """The form is older than FORM_LIFETIME."""


class AlreadyAnswered(FeedbackError):
    """This form's answer was counted before."""


class UnknownAnswer(FeedbackError):
    """Not one of the fixed answers."""


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(serializer_keys(), salt="consentapp.unsubscribe-feedback")


def campaign_of_link(raw: str) -> str | None:
    """The campaign an unsubscribe link came in (its public id), if any."""
    try:
        campaign = read_token(Purpose.UNSUBSCRIBE, raw).payload.get("k")
    except TokenError:
        return None
    return str(campaign) if campaign else None


def survey_token(campaign: str | None) -> str:
    """A fresh form's token: the campaign and a random nonce, no person."""
    payload = {"k": campaign or NO_CAMPAIGN, "n": secrets.token_urlsafe(16)}
    return str(_serializer().dumps(payload))


@dataclass(frozen=True)
class SurveyForm:
    """What a verified form token says."""

    campaign: str
    nonce: str


def read_survey_token(raw: str) -> SurveyForm:
    """Verify a form's token. Raises FormInvalid or FormExpired."""
    try:
        payload = _serializer().loads(raw, max_age=int(FORM_LIFETIME.total_seconds()))
    except SignatureExpired as exc:
        raise FormExpired from exc
    except BadSignature as exc:
        raise FormInvalid from exc
    if not isinstance(payload, dict):
        raise FormInvalid
    campaign, nonce = payload.get("k"), payload.get("n")
    if not isinstance(campaign, str) or not isinstance(nonce, str) or not nonce:
        raise FormInvalid
    return SurveyForm(campaign, nonce)


def record_answer(raw_token: str, raw_answer: str, today: date | None = None) -> FeedbackAnswer:
    """Count one answer and commit. Raises UnknownAnswer, FormInvalid, FormExpired or
    AlreadyAnswered (then nothing is counted)."""
    try:
        answer = FeedbackAnswer(raw_answer)
    except ValueError as exc:
        raise UnknownAnswer from exc
    form = read_survey_token(raw_token)
    today = today or utcnow().date()
    used = db.session.execute(
        dialect_insert(FeedbackNonce)
        .values(
            nonce_sha256=hashlib.sha256(form.nonce.encode()).hexdigest(),
            expires_on=today + FORM_LIFETIME + timedelta(days=1),
        )
        .on_conflict_do_nothing(index_elements=[FeedbackNonce.nonce_sha256])
        .returning(FeedbackNonce.nonce_sha256)
    ).scalar()
    if used is None:
        db.session.rollback()
        raise AlreadyAnswered
    period = NO_CAMPAIGN if form.campaign else today.strftime("%Y-%m")
    counted = dialect_insert(FeedbackCount).values(
        campaign=form.campaign, answer=answer.value, period=period, count=1, flagged=0
    )
    db.session.execute(
        counted.on_conflict_do_update(
            index_elements=[FeedbackCount.campaign, FeedbackCount.answer, FeedbackCount.period],
            set_={"count": FeedbackCount.count + 1},
        )
    )
    db.session.commit()
    return answer


def campaign_answers(campaign: Campaign) -> dict[FeedbackAnswer, int]:
    """How often each answer was given after unsubscribing through `campaign`'s links."""
    rows = dict(
        db.session.execute(
            sa.select(FeedbackCount.answer, sa.func.sum(FeedbackCount.count))
            .where(FeedbackCount.campaign == campaign.public_id)
            .group_by(FeedbackCount.answer)
        ).all()
    )
    return {answer: int(rows.get(answer.value) or 0) for answer in FeedbackAnswer}


def monthly_answers(
    months: int = 3, today: date | None = None
) -> dict[str, dict[FeedbackAnswer, int]]:
    """The answers given without a campaign, per month ("YYYY-MM"), newest first."""
    today = today or utcnow().date()
    periods = []
    year, month = today.year, today.month
    for _ in range(months):
        periods.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    rows = db.session.execute(
        sa.select(FeedbackCount.period, FeedbackCount.answer, FeedbackCount.count).where(
            FeedbackCount.campaign == NO_CAMPAIGN, FeedbackCount.period.in_(periods)
        )
    ).all()
    found = {(period, answer): count for period, answer, count in rows}
    return {
        period: {answer: int(found.get((period, answer.value), 0)) for answer in FeedbackAnswer}
        for period in periods
    }


@dataclass(frozen=True)
class NeverAsked:
    """A campaign (None: no campaign, in `period`) after which people said they never
    asked for the newsletter."""

    campaign: Campaign | None
    period: str
    count: int


def never_asked(now: datetime | None = None) -> list[NeverAsked]:
    """The flags for the dashboard: campaigns started in the last FLAG_DAYS, and the
    months since without a campaign, that got "never asked for it" answers."""
    since = (now or utcnow()) - timedelta(days=FLAG_DAYS)
    rows = db.session.execute(
        sa.select(FeedbackCount.campaign, FeedbackCount.period, FeedbackCount.count, Campaign)
        .outerjoin(Campaign, Campaign.public_id == FeedbackCount.campaign)
        .where(FeedbackCount.answer == FeedbackAnswer.NEVER_ASKED.value, FeedbackCount.count > 0)
        .order_by(FeedbackCount.count.desc())
    ).all()
    flags = []
    for key, period, count, campaign in rows:
        if campaign is not None and (campaign.started_at or campaign.created_at) >= since:
            flags.append(NeverAsked(campaign, period, int(count)))
        elif not key and period >= since.strftime("%Y-%m"):
            flags.append(NeverAsked(None, period, int(count)))
    return flags


def flag_never_asked() -> int:
    """Write an audit row per campaign (or month without one) with "never asked for it"
    answers not reported before, naming only the campaign; forget expired form nonces.
    Run by the housekeeping job, so the rows carry its time, not an answer's. Commits;
    returns how many rows it wrote."""
    db.session.execute(sa.delete(FeedbackNonce).where(FeedbackNonce.expires_on < utcnow().date()))
    rows = db.session.scalars(
        sa.select(FeedbackCount).where(
            FeedbackCount.answer == FeedbackAnswer.NEVER_ASKED.value,
            FeedbackCount.count > FeedbackCount.flagged,
        )
    ).all()
    for row in rows:
        audit.record(
            FLAG_ACTION,
            target_type="campaign" if row.campaign else None,
            target_id=row.campaign or None,
            details={"campaign": row.campaign or None, "period": row.period or None},
            keep_address=False,
            actor_label="housekeeping",
        )
        row.flagged = row.count
    db.session.commit()
    return len(rows)
