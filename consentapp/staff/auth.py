"""Login (password, then TOTP when set up), logout, own account and second factor."""

from __future__ import annotations

import base64
import time

import qrcode
import qrcode.image.svg
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db, limiter
from consentapp.models import StaffUser
from consentapp.request_checks import View
from consentapp.services.consent import Origin
from consentapp.services.staff_accounts import (
    AccountError,
    LoginOutcome,
    authenticate,
    check_totp,
    complete_login,
    enable_totp,
    new_totp_secret,
    record_failed_totp,
    record_logout,
    set_password,
    totp_uri,
    verify_password,
)
from consentapp.staff import SEEN_KEY, bp
from consentapp.staff.access import is_safe_next
from consentapp.staff.forms import LoginForm, PasswordChangeForm, TotpForm

TOTP_PENDING_KEY = "totp_pending"
TOTP_SETUP_KEY = "totp_setup_secret"
TOTP_STEP_SECONDS = 300


def _login_rate_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _finish_login(user: StaffUser, next_url: str | None) -> BaseResponse:
    """A new session (nothing carried over from before the login), then go on."""
    session.clear()
    complete_login(user)
    login_user(user)
    session[SEEN_KEY] = time.time()
    target = next_url if is_safe_next(next_url) else url_for("staff.home")
    return redirect(target or url_for("staff.home"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login() -> View:
    """Step 1: e-mail and password. One message for every kind of failure."""
    if current_user.is_authenticated:
        return redirect(url_for("staff.home"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("staff/login.html", form=form)
    if not form.validate():
        return render_template("staff/login.html", form=form), 400
    result = authenticate(
        form.email.data or "", form.password.data or "", Origin.from_request(request)
    )
    if result.outcome is LoginOutcome.FAILED or result.user is None:
        return render_template("staff/login.html", form=form, failed=True), 401
    if result.outcome is LoginOutcome.NEEDS_TOTP:
        session.clear()
        session[TOTP_PENDING_KEY] = {
            "user": result.user.id,
            "since": time.time(),
            "next": form.next.data or "",
        }
        return redirect(url_for("staff.login_totp"))
    return _finish_login(result.user, form.next.data)


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login_totp() -> View:
    """Step 2 for accounts with a second factor."""
    pending = session.get(TOTP_PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("since", 0) > TOTP_STEP_SECONDS:
        session.pop(TOTP_PENDING_KEY, None)
        flash(_("Please log in again."), "info")
        return redirect(url_for("staff.login"))
    user = db.session.get(StaffUser, pending.get("user"))
    if user is None:
        return redirect(url_for("staff.login"))
    form = TotpForm()
    if request.method == "GET":
        return render_template("staff/login_totp.html", form=form)
    if not form.validate():
        return render_template("staff/login_totp.html", form=form), 400
    if user.is_locked or not user.active or not check_totp(user, form.code.data or ""):
        record_failed_totp(user, Origin.from_request(request))
        return render_template("staff/login_totp.html", form=form, failed=True), 401
    return _finish_login(user, pending.get("next"))


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the session here and on every other device."""
    record_logout(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("staff.login"))


@bp.route("/account", methods=["GET", "POST"])
def account() -> View:
    """One's own account: change the password, see the second-factor status."""
    form = PasswordChangeForm()
    if request.method == "POST" and form.validate():
        user: StaffUser = current_user._get_current_object()
        if not verify_password(user, form.current.data or ""):
            form.current.errors = [_("This is not your current password.")]
        else:
            try:
                set_password(user, form.password.data or "", actor=user)
            except AccountError as exc:
                form.password.errors = [str(exc)]
            else:
                login_user(user)  # the session token changed with the password
                flash(_("Your password is changed. Other sessions were logged out."), "success")
                return redirect(url_for("staff.account"))
    status = 400 if form.errors else 200
    return render_template("staff/account.html", form=form), status


def qr_data_uri(text: str) -> str:
    """A QR code as an SVG data URI: drawn here, nothing fetched from elsewhere."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    svg: bytes = image.to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


@bp.route("/account/totp", methods=["GET", "POST"])
def totp_setup() -> View:
    """Set up an authenticator app: scan, then prove it works with one code."""
    user: StaffUser = current_user._get_current_object()
    if user.has_totp:
        flash(_("A second factor is already set up. An admin can reset it."), "info")
        return redirect(url_for("staff.account"))
    secret = session.get(TOTP_SETUP_KEY)
    if not isinstance(secret, str):
        secret = new_totp_secret()
        session[TOTP_SETUP_KEY] = secret
    form = TotpForm()
    if request.method == "POST" and form.validate():
        if check_totp(user, form.code.data or "", secret=secret):
            enable_totp(user, secret)
            session.pop(TOTP_SETUP_KEY, None)
            flash(
                _("The second factor is on. You will be asked for a code at every login."),
                "success",
            )
            return redirect(url_for("staff.home"))
        form.code.errors = [
            _("That code is not right. Check the time on your phone and try again.")
        ]
    uri = totp_uri(user, secret)
    status = 400 if form.errors else 200
    return render_template(
        "staff/totp_setup.html", form=form, secret=secret, qr=qr_data_uri(uri)
    ), status
