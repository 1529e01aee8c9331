"""API tokens: issue, authenticate, revoke (the REST API's access rule).

The secret is 32 random bytes; only its SHA-256 is stored. A slow password hash
(argon2) protects low-entropy passwords against guessing; a 256-bit random secret
cannot be guessed, so a fast hash is as safe and lets every call look its token up
by index instead of spending 50 ms of CPU on each request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import ApiScope, ApiToken, StaffUser, utcnow
from consentapp.services import audit

TOKEN_PREFIX = "ca_"  # noqa: S105 (how tokens start, not a secret)
PREFIX_LENGTH = 8
MAX_EXPIRES_DAYS = 3650


class UnknownScope(ValueError):
    """A scope name that does not exist."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token: the secret is shown once and never again."""

    token: ApiToken
    secret: str


def _actor(who: StaffUser | str) -> dict[str, Any]:
    """How the audit entry names who did it: the staff account, or the operator."""
    return {"actor": who} if isinstance(who, StaffUser) else {"actor_label": who}


def all_tokens() -> list[ApiToken]:
    """Every token, newest first (revoked ones too: the audit log names them)."""
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())))


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scopes(raw: Iterable[str]) -> list[ApiScope]:
    """Scope names as typed (comma lists allowed); UnknownScope names the bad one."""
    names = [part.strip() for item in raw for part in item.split(",") if part.strip()]
    known = {scope.value: scope for scope in ApiScope}
    for name in names:
        if name not in known:
            raise UnknownScope(name)
    return sorted({known[name] for name in names})


def issue_token(
    name: str,
    scopes: Iterable[ApiScope],
    created_by: StaffUser | str,
    expires_days: int | None = None,
) -> IssuedToken:
    """Create a token and audit it: by an admin in the staff area, or by the command
    line (`created_by` names the operator). Commits."""
    chosen = sorted(set(scopes))
    if not name.strip() or not chosen:
        raise ValueError("a token needs a name and at least one scope")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRES_DAYS:
        raise ValueError(f"a token expires after 1 to {MAX_EXPIRES_DAYS} days")
    by = created_by.label if isinstance(created_by, StaffUser) else created_by
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    token = ApiToken(
        name=name.strip()[:100],
        prefix=prefix,
        token_sha256=digest(secret),
        scopes=",".join(chosen),
        created_by=by[:200],
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    db.session.add(token)
    db.session.flush()
    audit.record(
        "api_token.create",
        target_type="api_token",
        target_id=prefix,
        details={"name": token.name, "scopes": token.scopes, "by": token.created_by},
        **_actor(created_by),
    )
    db.session.commit()
    return IssuedToken(token=token, secret=secret)


def authenticate(secret: str) -> ApiToken | None:
    """The usable token with this secret, or None (unknown, revoked or expired)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_sha256 == digest(secret)))
    if token is None or not secrets.compare_digest(token.token_sha256, digest(secret)):
        return None
    return token if token.usable_at(utcnow()) else None


def record_call(token: ApiToken, method: str, path: str) -> None:
    """Every API call is personal-data access: audit it, naming the token. Commits."""
    token.last_used_at = utcnow()
    audit.record(
        "api.call",
        target_type="api_token",
        target_id=token.prefix,
        details={"method": method, "path": path},
        actor_label=token.label,
    )
    db.session.commit()


def revoke(prefix: str, by: StaffUser | str) -> bool:
    """Revoke a token for good, by an admin or the command line (`by` names the
    operator). Commits; False when no live token has that prefix."""
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == prefix))
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    audit.record("api_token.revoke", target_type="api_token", target_id=prefix, **_actor(by))
    db.session.commit()
    return True
