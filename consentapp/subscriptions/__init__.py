"""Subscribe, confirm, unsubscribe and preferences: the pages a subscriber's mail links to."""

from flask import Blueprint

bp = Blueprint("subscriptions", __name__)

from consentapp.subscriptions import routes  # noqa: E402,F401
