"""The staff area: every page needs a login and the permission the table names for it."""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    request,
    session,
    url_for,
)
from flask.sansio.app import App
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import csrf, login_manager
from consentapp.permissions import Permission, allows, requirement_for, undeclared
from consentapp.request_checks import form_body_check
from consentapp.security import no_store
from consentapp.services.staff_accounts import must_set_up_totp, record_logout


class StaffBlueprint(Blueprint):
    """Refuses to register while an endpoint is missing from the permission table."""

    def register(self, app: App, options: dict[str, Any]) -> None:
        super().register(app, options)
        missing = undeclared(app.view_functions, f"{self.name}.")
        if missing:
            raise RuntimeError(
                f"staff endpoints without a permission in consentapp/permissions.py: {missing}"
            )


bp = StaffBlueprint("staff", __name__)

# Reachable while an admin still has to set up the mandatory second factor.
TOTP_SETUP_ENDPOINTS = frozenset({"staff.totp_setup", "staff.logout"})
SEEN_KEY = "staff_seen"


@bp.before_request
def require_staff() -> BaseResponse | None:
    """Login, idle timeout, mandatory second factor, CSRF and the permission table."""
    if request.endpoint == "staff.import_upload" and current_user.is_authenticated:
        # Set before the CSRF check parses the body: imports may be larger, but only for
        # someone logged in. Everyone else stays at MAX_CONTENT_LENGTH and gets a 413
        # before a large body is read.
        request.max_content_length = current_app.config["IMPORT_MAX_BYTES"] + 64 * 1024
    if request.method == "POST":
        csrf.protect()
    requirement = requirement_for(request.endpoint)
    if requirement is not None and requirement.open:
        return None
    if not current_user.is_authenticated:
        response: BaseResponse = login_manager.unauthorized()
        return response
    now = time.time()
    idle_limit = current_app.config["STAFF_IDLE_MINUTES"] * 60
    seen = session.get(SEEN_KEY)
    if isinstance(seen, (int, float)) and now - seen > idle_limit:
        record_logout(current_user._get_current_object(), reason="logout.idle")
        logout_user()
        session.clear()
        flash(_("You were logged out after a period without activity."), "info")
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    session[SEEN_KEY] = now
    if must_set_up_totp(current_user) and request.endpoint not in TOTP_SETUP_ENDPOINTS:
        flash(_("Admins must set up a second factor before going on."), "info")
        return redirect(url_for("staff.totp_setup"))
    check_permission()
    return None


def check_permission() -> None:
    """The one place roles are enforced: fail closed for anything the table does not grant."""
    requirement = requirement_for(request.endpoint)
    if requirement is None:
        abort(403)  # not in the table (registration refuses this; a route added later)
    if request.method == "OPTIONS":
        return
    permission = requirement.permission_for(request.method, request.view_args)
    if permission is None:
        abort(404)  # an action that does not exist
    if not allows(current_user._get_current_object(), permission):
        abort(403)


@bp.context_processor
def permission_helpers() -> dict[str, Any]:
    """`can('campaign_send')` in templates: show only the buttons the table grants."""

    def can(permission: str) -> bool:
        user = current_user._get_current_object() if current_user.is_authenticated else None
        return allows(user, Permission(permission))

    return {"can": can}


# Registered after `require_staff`: the token, login and permission checks come first.
bp.before_request(form_body_check(with_files={"staff.import_upload"}))
bp.after_request(no_store)


from consentapp.staff import (  # noqa: E402,F401
    api_tokens,
    audit_views,
    auth,
    bounces,
    campaign_archive,
    campaign_pixel,
    campaign_progress,
    campaigns,
    contacts,
    dashboard,
    embed,
    imports,
    inquiries,
    outgoing_webhooks,
    registers,
    repermission,
    requests,
    users,
)
