"""API tokens in the staff area (admins): the list, creating one (its secret shown
once, on the page after the form, never stored), and revoking one."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.models import ApiScope, ApiToken, utcnow
from consentapp.models.api_token import RESOURCES
from consentapp.request_checks import View
from consentapp.services.api_tokens import all_tokens, issue_token, parse_scopes, revoke
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import ApiTokenForm, ButtonForm

RESOURCE_LABELS = {
    "contacts": _l("Contacts"),
    "subscriptions": _l("Subscriptions"),
    "topics": _l("Topics"),
    "ledger": _l("Consent ledger"),
    "campaigns": _l("Newsletters"),
    "requests": _l("Data-subject requests"),
    "suppression": _l("Suppression list"),
}


def _page(form: ApiTokenForm, status: int = 200) -> View:
    groups = [(RESOURCE_LABELS[r], f"{r}:read", f"{r}:write") for r in RESOURCES]
    html = render_template(
        "staff/api_tokens.html",
        form=form,
        groups=groups,
        admin_scope=ApiScope.ADMIN.value,
        tokens=all_tokens(),
        button=ButtonForm(),
        now=utcnow(),
    )
    return html, status


@bp.route("/api-tokens", methods=["GET", "POST"])
def api_tokens() -> View:
    """The tokens; a valid form creates one and shows it once on the next page."""
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _page(form, 400 if form.is_submitted() else 200)
    issued = issue_token(
        form.name.data or "",
        parse_scopes(form.scopes.data or []),
        current_staff(),
        form.expires_days.data,
    )
    # Shown on this page only: never stored, never put in the session cookie.
    return render_template("staff/api_token_created.html", issued=issued), 201


@bp.post("/api-tokens/<prefix>/revoke")
def revoke_api_token(prefix: str) -> BaseResponse:
    """Revoke a token for good (the audit log keeps naming it)."""
    db.one_or_404(sa.select(ApiToken).where(ApiToken.prefix == prefix))
    if not revoke(prefix, current_staff()):
        abort(404)
    flash(_("The token is revoked: calls with it are refused from now on."), "success")
    return redirect(url_for("staff.api_tokens"))
