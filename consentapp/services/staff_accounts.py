"""Staff accounts: passwords (argon2), login with lockout, TOTP, roles (P2)."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.mail.outbox import queue_email
from consentapp.models import Role, Setting, StaffUser, utcnow
from consentapp.models.staff import new_session_token
from consentapp.request_checks import small_int
from consentapp.services import audit, passwords
from consentapp.services.consent import Origin
from consentapp.services.contact_details import normalise_email

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 256
TOTP_ISSUER_FALLBACK = "consentapp"
REQUIRE_ADMIN_TOTP = "require_admin_totp"


class AccountError(ValueError):
    """A request about an account that cannot be granted; `str()` says why."""


class LoginOutcome(enum.Enum):
    """What a login attempt led to (the page shows one generic message for failures)."""

    OK = "ok"
    NEEDS_TOTP = "needs_totp"
    FAILED = "failed"


@dataclass(frozen=True)
class LoginResult:
    """The outcome, and the account when the password was right."""

    outcome: LoginOutcome
    user: StaffUser | None = None


def check_password_rules(password: str) -> None:
    """At least 12 characters (and a sane maximum)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"The password may have at most {MAX_PASSWORD_LENGTH} characters.")


def hash_password(password: str) -> str:
    """An argon2id hash of a password that follows the rules."""
    check_password_rules(password)
    return passwords.make_hash(password)


def find_staff(email: str, for_update: bool = False) -> StaffUser | None:
    """The account with this address; `for_update` locks its row until the commit."""
    query = sa.select(StaffUser).where(StaffUser.email == email.lower())
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query)


def create_staff(
    email: str, role: str, password: str, name: str = "", actor: StaffUser | None = None
) -> StaffUser:
    """Create an account (audited). The caller commits."""
    address = normalise_email(email)
    if role not in set(Role):
        raise AccountError(f"Unknown role {role!r}: use admin or staff.")
    if find_staff(address) is not None:
        raise AccountError(f"There is already an account for {address}.")
    user = StaffUser(
        email=address, name=name.strip(), role=role, password_hash=hash_password(password)
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "staff.create",
        target_type="staff",
        target_id=str(user.id),
        details={"email": address, "role": role},
        actor=actor,
    )
    return user


def max_failures() -> int:
    """Failed logins in a row after which an account locks."""
    return int(current_app.config["STAFF_LOCKOUT_AFTER"])


def lock_seconds(earlier_locks: int) -> int:
    """How long the next lock lasts: the first lock's length, doubled for each lock
    before it since the last successful login, up to the maximum."""
    first = int(current_app.config["STAFF_LOCKOUT_SECONDS"])
    longest = int(current_app.config["STAFF_LOCKOUT_MAX_SECONDS"])
    # Past 2**31 times the first lock the cap holds anyway: no giant powers.
    doubled: int = first << min(earlier_locks, 31)
    return min(doubled, longest)


def authenticate(
    email: str, password: str, origin: Origin | None = None, now: datetime | None = None
) -> LoginResult:
    """Check a password; count failures and lock the account after too many. Commits.

    While a lock holds even the right password fails, with the same outcome as a wrong
    one; attempts during a lock are not counted, so they do not make it longer.
    """
    moment = now or utcnow()
    # Attempts on one account wait for each other, so parallel guesses are all counted
    # and lock it once.
    user = find_staff(email.strip(), for_update=True)
    if user is None:
        passwords.verify(None, password)
        # The address typed is not kept: it may be anyone's, and nothing would erase it.
        audit.record("login.failed", details={"reason": "unknown"})
        db.session.commit()
        return LoginResult(LoginOutcome.FAILED)
    password_ok = passwords.verify(user.password_hash, password)
    locked = user.locked_at_time(moment)
    if not user.active or locked or not password_ok:
        reason = "inactive" if not user.active else "locked" if locked else "password"
        _record_failure(user, reason, moment, origin)
        return LoginResult(LoginOutcome.FAILED)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.make_hash(password)
    if user.has_totp:
        db.session.commit()
        return LoginResult(LoginOutcome.NEEDS_TOTP, user)
    return LoginResult(LoginOutcome.OK, user)


def verify_password(user: StaffUser, password: str) -> bool:
    """Whether `password` is the account's current password."""
    return passwords.verify(user.password_hash, password)


def record_failed_totp(
    user: StaffUser, origin: Origin | None = None, now: datetime | None = None
) -> None:
    """A wrong second-factor code counts as a failed login. Commits."""
    moment = now or utcnow()
    db.session.refresh(user, with_for_update=True)
    reason = "inactive" if not user.active else "locked" if user.locked_at_time(moment) else "totp"
    _record_failure(user, reason, moment, origin)


def _record_failure(user: StaffUser, reason: str, now: datetime, origin: Origin | None) -> None:
    """Audit a failed login; a wrong password or code counts towards a lock. Commits."""
    if reason in {"password", "totp"}:
        user.failed_logins += 1
    audit.record(
        "login.failed",
        target_type="staff",
        target_id=str(user.id),
        details={"email": user.email, "reason": reason},
        actor=user,
    )
    if reason in {"password", "totp"} and user.failed_logins >= max_failures():
        _lock(user, now, origin)
    db.session.commit()


def _lock(user: StaffUser, now: datetime, origin: Origin | None) -> None:
    """Lock for a while (audited) and tell the owner, in the caller's transaction.

    The failure count starts over, so after the lock the same number of failures
    locks again, for twice as long.
    """
    seconds = lock_seconds(user.lock_count)
    user.lock_count += 1
    user.failed_logins = 0
    user.locked_at = now
    user.locked_until = now + timedelta(seconds=seconds)
    audit.record(
        "staff.locked",
        target_type="staff",
        target_id=str(user.id),
        details={
            "until": user.locked_until.isoformat(timespec="seconds"),
            "seconds": seconds,
            "lock": user.lock_count,
        },
        actor=user,
    )
    queue_email(
        to=user.email,
        template="staff_locked",
        language=current_app.config["BABEL_DEFAULT_LOCALE"],
        subject=_l("Your staff account was locked after failed logins"),
        context={
            "locked_at": _mail_time(now),
            "locked_until": _mail_time(user.locked_until),
            "client_address": origin.client_address if origin else None,
            "user_agent": origin.user_agent if origin else None,
            "failures": max_failures(),
        },
    )


def _mail_time(moment: datetime) -> str:
    """A time as mails show it: to the second, in UTC, readable in every language."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def complete_login(user: StaffUser) -> None:
    """A successful login: a new session token (old sessions end), audit. Commits.

    It also ends the doubling of locks: the next lock is a first one again.
    """
    user.failed_logins = 0
    user.lock_count = 0
    user.locked_at = None
    user.locked_until = None
    user.session_token = new_session_token()
    user.last_login_at = utcnow()
    audit.record("login", target_type="staff", target_id=str(user.id), actor=user)
    db.session.commit()


def record_logout(user: StaffUser, reason: str = "logout") -> None:
    """End the account's sessions everywhere and audit it. Commits."""
    user.session_token = new_session_token()
    audit.record(reason, target_type="staff", target_id=str(user.id), actor=user)
    db.session.commit()


def load_session_user(session_id: str) -> StaffUser | None:
    """Flask-Login's loader: the account, if the session's token is still current."""
    raw_id, _, token = session_id.partition(":")
    user_id = small_int(raw_id)
    if user_id is None:
        return None
    user = db.session.get(StaffUser, user_id)
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        return None
    return user


# TOTP -----------------------------------------------------------------------


def new_totp_secret() -> str:
    """A fresh base32 secret for an authenticator app."""
    return pyotp.random_base32()


def totp_uri(user: StaffUser, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    issuer = current_app.config["ORG_NAME"] or TOTP_ISSUER_FALLBACK
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def check_totp(user: StaffUser, code: str, secret: str | None = None) -> bool:
    """A current code (one step of clock drift allowed), never the same step twice."""
    key = secret or user.totp_secret
    if not key:
        return False
    cleaned = "".join(ch for ch in code if ch in "0123456789")
    totp = pyotp.TOTP(key)
    now = int(utcnow().timestamp())
    for drift in (0, -1, 1):
        step = now // totp.interval + drift
        if secrets.compare_digest(totp.at(step * totp.interval), cleaned):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def enable_totp(user: StaffUser, secret: str) -> None:
    """Turn on the second factor (after a code from the app was checked). Commits."""
    user.totp_secret = secret
    audit.record("staff.totp_enabled", target_type="staff", target_id=str(user.id), actor=user)
    db.session.commit()


def admin_totp_required() -> bool:
    """The admin setting that makes a second factor mandatory for admins."""
    setting = db.session.get(Setting, REQUIRE_ADMIN_TOTP)
    return setting is not None and setting.value == "1"


def must_set_up_totp(user: StaffUser) -> bool:
    """An admin without a second factor while the setting requires one."""
    return user.is_admin and not user.has_totp and admin_totp_required()


def set_admin_totp_required(required: bool, actor: StaffUser) -> None:
    """Change the setting (audited). Commits."""
    setting = db.session.get(Setting, REQUIRE_ADMIN_TOTP)
    value = "1" if required else "0"
    if setting is None:
        db.session.add(Setting(key=REQUIRE_ADMIN_TOTP, value=value))
    else:
        setting.value = value
    audit.record("settings.change", details={REQUIRE_ADMIN_TOTP: required}, actor=actor)
    db.session.commit()


# Administration --------------------------------------------------------------


def change_role(user: StaffUser, role: str, actor: StaffUser) -> None:
    """Admins change roles; nobody demotes the last active admin. Commits."""
    if role not in set(Role):
        raise AccountError(f"Unknown role {role!r}.")
    if user.role == role:
        return
    if user.is_admin and _active_admins() <= 1:
        raise AccountError("This is the last active admin: make another admin first.")
    old = user.role
    user.role = Role(role)
    user.session_token = new_session_token()
    audit.record(
        "staff.role_change",
        target_type="staff",
        target_id=str(user.id),
        details={"from": old, "to": role},
        actor=actor,
    )
    db.session.commit()


def set_active(user: StaffUser, active: bool, actor: StaffUser) -> None:
    """Deactivate (sessions end at once) or reactivate an account. Commits."""
    if user.active == active:
        return
    if not active and user.is_admin and _active_admins() <= 1:
        raise AccountError("This is the last active admin: make another admin first.")
    user.active = active
    user.session_token = new_session_token()
    audit.record(
        "staff.activate" if active else "staff.deactivate",
        target_type="staff",
        target_id=str(user.id),
        actor=actor,
    )
    db.session.commit()


def unlock(user: StaffUser, actor: StaffUser | None) -> None:
    """Lift a lock at once and start the doubling over. Commits."""
    user.locked_at = None
    user.locked_until = None
    user.failed_logins = 0
    user.lock_count = 0
    audit.record("staff.unlock", target_type="staff", target_id=str(user.id), actor=actor)
    db.session.commit()


def reset_totp(user: StaffUser, actor: StaffUser) -> None:
    """Remove a lost second factor; the member sets up a new one. Commits."""
    user.totp_secret = None
    user.totp_last_step = None
    audit.record("staff.totp_reset", target_type="staff", target_id=str(user.id), actor=actor)
    db.session.commit()


def set_password(user: StaffUser, password: str, actor: StaffUser) -> None:
    """A new password; other sessions of the account end. Commits."""
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.session_token = new_session_token()
    audit.record("staff.password_change", target_type="staff", target_id=str(user.id), actor=actor)
    db.session.commit()


def _active_admins() -> int:
    count = db.session.scalar(
        sa.select(sa.func.count(StaffUser.id)).where(
            StaffUser.role == Role.ADMIN, StaffUser.active.is_(True)
        )
    )
    return int(count or 0)
