"""The form on the company's own site: the proof-of-work switch and its challenges.

Staff switch ALTCHA on (a setting, audited) when bots get through the bot trap; the
JSON subscribe endpoint then takes a request only with a solved, unexpired challenge.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from altcha import v1 as altcha

from consentapp.extensions import db, limiter
from consentapp.keyring import altcha_key
from consentapp.models import Setting, StaffUser
from consentapp.services import audit

ALTCHA_SETTING = "embed_altcha"
# Enough work to slow a bot down, little enough for a phone (well under a second).
ALTCHA_MAX_NUMBER = 50_000
ALTCHA_LIFETIME = timedelta(minutes=10)
MAX_PAYLOAD_LENGTH = 2000


def altcha_required() -> bool:
    """Whether staff have switched the proof-of-work challenge on."""
    setting = db.session.get(Setting, ALTCHA_SETTING)
    return setting is not None and setting.value == "1"


def set_altcha_required(required: bool, actor: StaffUser) -> None:
    """Switch the challenge on or off (audited when it changes). Commits."""
    setting = db.session.get(Setting, ALTCHA_SETTING)
    value = "1" if required else "0"
    if (setting.value if setting else "0") == value:
        return
    if setting is None:
        db.session.add(Setting(key=ALTCHA_SETTING, value=value))
    else:
        setting.value = value
    audit.record("settings.change", details={ALTCHA_SETTING: required}, actor=actor)
    db.session.commit()


def new_challenge() -> dict[str, Any]:
    """A signed challenge for the widget, valid for ten minutes."""
    challenge = altcha.create_challenge(
        altcha.ChallengeOptions(
            hmac_key=altcha_key(),
            max_number=ALTCHA_MAX_NUMBER,
            expires=datetime.now(UTC) + ALTCHA_LIFETIME,
        )
    )
    return dict(challenge.to_dict())


def challenge_solved(payload: str | None) -> bool:
    """Whether `payload` (the widget's base64 answer) solves a challenge we signed."""
    if not payload or len(payload) > MAX_PAYLOAD_LENGTH:
        return False
    try:
        ok, _error = altcha.verify_solution(payload, altcha_key(), check_expires=True)
    except Exception:  # any malformed payload is simply not a solution
        return False
    return bool(ok) and first_use(payload)


def first_use(payload: str) -> bool:
    """A solution counts once: remembered for the challenge's lifetime in the rate
    limiter's storage (shared by every worker when that is Redis). With rate limiting
    switched off there is no such storage, and a solution holds until it expires."""
    if not limiter.enabled:
        return True
    key = "altcha-used:" + hashlib.sha256(payload.encode()).hexdigest()
    return bool(limiter.storage.incr(key, int(ALTCHA_LIFETIME.total_seconds())) == 1)
