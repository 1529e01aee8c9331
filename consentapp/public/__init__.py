"""Public pages: home, contact form, privacy notice, cookie list, health check."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from consentapp.public import routes  # noqa: E402,F401
