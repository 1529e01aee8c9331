"""Subscribe, confirm, unsubscribe and preferences: the pages a subscriber's mail links to."""

from flask import Blueprint

from consentapp.request_checks import form_body_check
from consentapp.security import no_store

bp = Blueprint("subscriptions", __name__)
bp.before_request(form_body_check(one_click={"subscriptions.unsubscribe"}))
# Every page here is reached through a personal link or shows what the person entered.
bp.after_request(no_store)

from consentapp.subscriptions import (  # noqa: E402,F401
    feedback,
    receipt_routes,
    routes,
    still_wanted,
    web_version,
)
