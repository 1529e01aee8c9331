"""Public pages: home, contact form, privacy notice, cookie list, newsletter archive,
health check."""

from flask import Blueprint

from consentapp.request_checks import form_body_check

bp = Blueprint("public", __name__)
bp.before_request(form_body_check())

from consentapp.public import archive, clicks, routes  # noqa: E402,F401
