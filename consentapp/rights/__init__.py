"""The person's side of data-subject rights: `/my-data`."""

from flask import Blueprint

from consentapp.security import no_store

bp = Blueprint("rights", __name__)
# Every page here is reached through a personal link or shows what the person entered.
bp.after_request(no_store)

from consentapp.rights import routes  # noqa: E402,F401
