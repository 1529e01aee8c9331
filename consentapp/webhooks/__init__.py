"""Webhooks that sending providers call with bounces and complaints.

Servers post JSON here, authenticated by their signature, so there is no CSRF token
and no session: these requests come from no browser. Every answer is problem JSON
(RFC 9457) or a short JSON status, and is never cached.
"""

from flask import Blueprint
from flask.blueprints import BlueprintSetupState

from consentapp.extensions import csrf
from consentapp.security import no_store
from consentapp.webhooks.signatures import check_settings

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)
bp.after_request(no_store)


@bp.record_once
def _check_settings(state: BlueprintSetupState) -> None:
    """A secret that can never verify anything stops the app at start, not at 3 a.m."""
    check_settings(state.app.config)


from consentapp.webhooks import routes  # noqa: E402,F401
