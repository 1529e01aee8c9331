"""Staff accounts and settings: admins only."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.form_fields import choices
from consentapp.labels import ROLES
from consentapp.models import Inquiry, InquiryStatus, Role, StaffUser
from consentapp.request_checks import View
from consentapp.services.contact_details import normalise_email
from consentapp.services.embed import altcha_required, set_altcha_required
from consentapp.services.staff_accounts import (
    AccountError,
    admin_totp_required,
    change_role,
    create_staff,
    reset_totp,
    set_active,
    set_admin_totp_required,
    unlock,
)
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import ButtonForm, RoleForm, SettingsForm, StaffCreateForm

ROLE_CHOICES = [(Role.STAFF, ROLES["staff"]), (Role.ADMIN, ROLES["admin"])]


@bp.get("/users")
def users() -> str:
    """Every staff account, active or not."""
    accounts = db.session.scalars(sa.select(StaffUser).order_by(StaffUser.email)).all()
    return render_template("staff/users.html", accounts=accounts)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> View:
    """Create an account; a generated password is shown once."""
    form = StaffCreateForm()
    form.role.choices = choices(ROLE_CHOICES)
    if request.method == "POST" and form.validate():
        password = form.password.data or secrets.token_urlsafe(12)
        try:
            user = create_staff(
                normalise_email(form.email.data or ""),
                form.role.data or Role.STAFF,
                password,
                form.name.data or "",
                actor=current_staff(),
            )
        except AccountError as exc:
            form.email.errors = [str(exc)]
        else:
            db.session.commit()
            if not form.password.data:
                # Shown on this page only, never stored in the session cookie.
                return render_template("staff/user_created.html", account=user, password=password)
            flash(_("Account created."), "success")
            return redirect(url_for("staff.user", user_id=user.id))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/user_new.html", form=form), status


def _user_page(account: StaffUser, role_form: RoleForm | None = None, status: int = 200) -> View:
    if role_form is None:
        role_form = RoleForm(formdata=None)
        role_form.role.choices = choices(ROLE_CHOICES)
        role_form.role.data = account.role
    return render_template(
        "staff/user.html", account=account, role_form=role_form, button=ButtonForm()
    ), status


@bp.get("/users/<int:user_id>")
def user(user_id: int) -> View:
    """One account, with the actions admins can take on it."""
    return _user_page(db.get_or_404(StaffUser, user_id))


def _open_inquiries(account: StaffUser) -> list[Inquiry]:
    """The open contact-form messages assigned to the account."""
    return list(
        db.session.scalars(
            sa.select(Inquiry)
            .where(Inquiry.assigned_to_id == account.id, Inquiry.status != InquiryStatus.DONE)
            .order_by(Inquiry.created_at)
        )
    )


def _deactivate(account: StaffUser) -> View | BaseResponse:
    """First a page naming the account and what it loses; its button (`confirmed=1`)
    deactivates."""
    assigned = _open_inquiries(account)
    if request.form.get("confirmed") != "1":
        return render_template(
            "staff/user_deactivate.html", account=account, assigned=assigned, button=ButtonForm()
        )
    try:
        set_active(account, False, current_staff())
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "info")
        return redirect(url_for("staff.user", user_id=account.id))
    flash(
        _("%(name)s is deactivated: the account's sessions have ended.", name=account.label),
        "success",
    )
    if assigned:
        flash(
            ngettext(
                "%(num)d open inquiry is still assigned to this account: give it to someone else.",
                "%(num)d open inquiries are still assigned to this account: give them to others.",
                len(assigned),
            ),
            "info",
        )
    return redirect(url_for("staff.user", user_id=account.id))


def _act(user_id: int, action: str) -> View | BaseResponse:
    account: StaffUser = db.get_or_404(StaffUser, user_id)
    actor = current_staff()
    if action == "deactivate":
        return _deactivate(account)
    try:
        if action == "role":
            form = RoleForm()
            form.role.choices = choices(ROLE_CHOICES)
            if not form.validate():
                return _user_page(account, form, 400)
            change_role(account, form.role.data or account.role, actor)
        elif action == "activate":
            set_active(account, True, actor)
        elif action == "unlock":
            unlock(account, actor)
        elif action == "reset-totp":
            reset_totp(account, actor)
        else:
            abort(404)
    except AccountError as exc:
        db.session.rollback()
        flash(str(exc), "info")
    else:
        flash(_("Done."), "success")
    return redirect(url_for("staff.user", user_id=user_id))


@bp.post("/users/<int:user_id>/<action>")
def user_action(user_id: int, action: str) -> View | BaseResponse:
    """Role change, (de)activation, unlock, second-factor reset."""
    return _act(user_id, action)


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> View:
    """Run-time settings."""
    form = SettingsForm()
    if request.method == "POST" and form.validate():
        set_admin_totp_required(bool(form.require_admin_totp.data), current_staff())
        set_altcha_required(bool(form.require_altcha.data), current_staff())
        flash(_("Settings saved."), "success")
        return redirect(url_for("staff.settings"))
    if request.method == "GET":
        form.require_admin_totp.data = admin_totp_required()
        form.require_altcha.data = altcha_required()
    return render_template("staff/settings.html", form=form)
