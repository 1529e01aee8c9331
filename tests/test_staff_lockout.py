"""Staff lockouts after failed logins lift by themselves, grow longer, and are mailed."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from consentapp.config import ConfigError, TestingConfig
from consentapp.extensions import db
from consentapp.models import AuditEntry, OutboundEmail, StaffUser, utcnow
from consentapp.services.staff_accounts import LoginOutcome, authenticate, complete_login
from tests.builders import STAFF_PASSWORD
from tests.flows import log_in
from tests.helpers import csrf_token, deliver, html_of, post_form, text_of, without_csrf
from tests.services import SMTPServer

EMAIL = "staff@crm.example"
ATTACKER = {"REMOTE_ADDR": "203.0.113.77"}
ATTACKER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) GuessBot/2.1"


def try_login(app: Flask, password: str) -> tuple[int, str]:
    """One login attempt from a fresh browser: the status and the page without tokens."""
    client = app.test_client()
    response = post_form(
        client,
        "/staff/login",
        {"email": EMAIL, "password": password},
        environ_base=ATTACKER,
        headers={"User-Agent": ATTACKER_AGENT},
    )
    return response.status_code, without_csrf(response.get_data(as_text=True))


def fail(app: Flask, times: int) -> None:
    for _ in range(times):
        assert try_login(app, "not-the-password")[0] == 401


def account(app: Flask) -> StaffUser:
    with app.app_context():
        user = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == EMAIL))
        assert user is not None
        db.session.expunge(user)
        return user


def end_the_lock(app: Flask) -> None:
    """Move the lock's end into the past, as if its time had passed."""
    with app.app_context():
        db.session.execute(
            sa.update(StaffUser)
            .where(StaffUser.email == EMAIL)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()


def audit_rows(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))
        for row in rows:
            db.session.expunge(row)
        return rows


def test_five_wrong_passwords_lock_the_account_for_one_minute(app: Flask, staff_id: int) -> None:
    fail(app, 4)
    assert account(app).locked_until is None
    fail(app, 1)
    user = account(app)
    assert user.locked_at is not None and user.locked_until is not None
    assert user.locked_until - user.locked_at == timedelta(seconds=60)
    [locked] = audit_rows(app, "staff.locked")
    assert locked.target_id == str(staff_id)
    assert locked.details == {
        "until": user.locked_until.isoformat(timespec="seconds"),
        "seconds": 60,
        "lock": 1,
    }


def test_during_a_lock_the_right_password_gets_the_same_answer_as_a_wrong_one(
    app: Flask, staff_id: int
) -> None:
    fail(app, 5)
    right = try_login(app, STAFF_PASSWORD)
    wrong = try_login(app, "still-not-the-password")
    assert right[0] == wrong[0] == 401
    assert right[1] == wrong[1]
    reasons = [row.details["reason"] for row in audit_rows(app, "login.failed")]
    assert reasons == ["password"] * 5 + ["locked", "locked"]


def test_attempts_during_a_lock_do_not_make_it_longer(app: Flask, staff_id: int) -> None:
    fail(app, 5)
    before = account(app).locked_until
    fail(app, 4)
    user = account(app)
    assert user.locked_until == before and user.lock_count == 1
    assert len(audit_rows(app, "staff.locked")) == 1


def test_after_the_lock_the_right_password_works(app: Flask, staff_id: int) -> None:
    fail(app, 5)
    end_the_lock(app)
    assert try_login(app, STAFF_PASSWORD)[0] == 302
    user = account(app)
    assert (user.lock_count, user.failed_logins, user.locked_until) == (0, 0, None)


def test_after_the_lock_the_same_number_of_failures_locks_again(app: Flask, staff_id: int) -> None:
    fail(app, 5)
    end_the_lock(app)
    fail(app, 4)
    assert not account(app).is_locked
    fail(app, 1)
    assert account(app).is_locked


def lock_lengths(app: Flask, locks: int, start: datetime) -> list[int]:
    """Lock the account `locks` times in a row through the service, each time just after
    the previous lock ended; the length of each lock in seconds."""
    lengths = []
    now = start
    with app.app_context():
        for _ in range(locks):
            for _ in range(app.config["STAFF_LOCKOUT_AFTER"]):
                result = authenticate(EMAIL, "not-the-password", now=now)
                assert result.outcome is LoginOutcome.FAILED
            user = db.session.scalar(sa.select(StaffUser).where(StaffUser.email == EMAIL))
            assert user is not None and user.locked_until is not None
            assert user.locked_at_time(now) and not user.locked_at_time(user.locked_until)
            lengths.append(int((user.locked_until - now).total_seconds()))
            now = user.locked_until
    return lengths


def test_each_further_lock_lasts_twice_as_long_up_to_an_hour(app: Flask, staff_id: int) -> None:
    lengths = lock_lengths(app, 8, utcnow())
    assert lengths == [60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_lock_lengths_follow_the_settings(app: Flask, staff_id: int) -> None:
    app.config.update(STAFF_LOCKOUT_AFTER=3, STAFF_LOCKOUT_SECONDS=10, STAFF_LOCKOUT_MAX_SECONDS=25)
    assert lock_lengths(app, 4, utcnow()) == [10, 20, 25, 25]


def test_a_successful_login_starts_the_doubling_over(app: Flask, staff_id: int) -> None:
    start = utcnow()
    assert lock_lengths(app, 2, start) == [60, 120]
    with app.app_context():
        after = start + timedelta(seconds=200)
        result = authenticate(EMAIL, STAFF_PASSWORD, now=after)
        assert result.outcome is LoginOutcome.OK and result.user is not None
        complete_login(result.user)
    assert lock_lengths(app, 1, start + timedelta(seconds=300)) == [60]


def test_admin_unlock_lifts_the_lock_at_once_and_starts_the_doubling_over(
    app: Flask, staff_id: int, admin_id: int
) -> None:
    fail(app, 5)
    admin = log_in(app.test_client(), "admin@crm.example")
    page = admin.get(f"/staff/users/{staff_id}").get_data(as_text=True)
    assert "vergrendeld na mislukte aanmeldingen, tot " in page, "the admin sees until when"
    token = csrf_token(admin, f"/staff/users/{staff_id}")
    admin.post(f"/staff/users/{staff_id}/unlock", data={"csrf_token": token})
    assert (account(app).lock_count, account(app).is_locked) == (0, False)
    [unlocked] = audit_rows(app, "staff.unlock")
    assert unlocked.actor_id == admin_id and unlocked.target_id == str(staff_id)
    log_in(app.test_client(), EMAIL)


def test_unlock_staff_command_lifts_the_lock(app: Flask, runner: Any, staff_id: int) -> None:
    fail(app, 5)
    result = runner.invoke(args=["unlock-staff", EMAIL])
    assert result.exit_code == 0, result.output
    assert audit_rows(app, "staff.unlock")[0].actor_id is None
    log_in(app.test_client(), EMAIL)


def test_the_owner_is_mailed_when_and_from_where_the_account_was_locked(
    app: Flask, staff_id: int, smtp_server: SMTPServer
) -> None:
    fail(app, 5)
    with app.app_context():
        queued = db.session.scalars(
            sa.select(OutboundEmail.to_address).where(OutboundEmail.kind == "staff_locked")
        ).all()
    assert queued == [EMAIL], "the mail is queued with the lock"
    fail(app, 3)  # attempts during the lock send no further mail
    deliver(app)
    [mail] = smtp_server.to(EMAIL)
    user = account(app)
    assert user.locked_at is not None and user.locked_until is not None
    assert mail["Subject"] == "Uw medewerkersaccount is vergrendeld na mislukte aanmeldpogingen"
    for body in (text_of(mail), html_of(mail)):
        assert user.locked_at.strftime("%Y-%m-%d %H:%M:%S UTC") in body
        assert user.locked_until.strftime("%Y-%m-%d %H:%M:%S UTC") in body
        assert "203.0.113.77" in body
        assert "GuessBot/2.1" in body
        assert "Was u dit niet" in body and "privacy@crm.example" in body
    assert STAFF_PASSWORD not in text_of(mail) and "not-the-password" not in text_of(mail)


def test_a_wrong_second_factor_code_counts_towards_the_lock(app: Flask, staff_id: int) -> None:
    """The TOTP step refuses during a lock too, with the same page as a wrong code."""
    with app.app_context():
        user = db.session.get(StaffUser, staff_id)
        assert user is not None
        user.totp_secret = pyotp.random_base32()
        db.session.commit()
    client = app.test_client()
    assert (
        post_form(client, "/staff/login", {"email": EMAIL, "password": STAFF_PASSWORD}).status_code
        == 302
    )
    pages = []
    for _ in range(6):
        response = post_form(client, "/staff/login/totp", {"code": "000000"})
        assert response.status_code == 401
        pages.append(re.sub(r'value="[^"]*"', "", response.get_data(as_text=True)))
    assert account(app).is_locked and pages[-1] == pages[0]
    reasons = [row.details["reason"] for row in audit_rows(app, "login.failed")]
    assert reasons == ["totp"] * 5 + ["locked"]


def test_parallel_wrong_passwords_are_each_counted_and_lock_once(
    app: Flask, staff_id: int, database_url: str
) -> None:
    """Guesses sent at the same time wait for each other on the account's row."""
    if database_url.startswith("sqlite"):
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time anyway")
    errors: list[BaseException] = []

    def guess() -> None:
        try:
            with app.app_context():
                authenticate(EMAIL, "not-the-password")
                db.session.remove()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    user = account(app)
    assert (user.lock_count, user.failed_logins) == (1, 0), "five counted, then locked"
    assert len(audit_rows(app, "staff.locked")) == 1
    reasons = sorted(row.details["reason"] for row in audit_rows(app, "login.failed"))
    assert reasons == ["locked"] * 2 + ["password"] * 5


@pytest.mark.parametrize(
    "values",
    [
        {"STAFF_LOCKOUT_SECONDS": "0"},
        {"STAFF_LOCKOUT_AFTER": "0"},
        {"STAFF_LOCKOUT_SECONDS": "120", "STAFF_LOCKOUT_MAX_SECONDS": "60"},
    ],
    ids=["no-lock-length", "no-failures", "cap-below-first"],
)
def test_lockout_settings_that_make_no_sense_are_refused(
    values: dict[str, str], tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="STAFF_LOCKOUT"):
        TestingConfig({"CONSENTAPP_INSTANCE": str(tmp_path), **values})
