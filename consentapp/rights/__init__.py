"""The person's side of data-subject rights: `/my-data`."""

from flask import Blueprint

from consentapp.request_checks import form_body_check
from consentapp.security import no_store

bp = Blueprint("rights", __name__)
bp.before_request(form_body_check())
# Every page here is reached through a personal link or shows what the person entered.
bp.after_request(no_store)

from consentapp.rights import routes  # noqa: E402,F401
