"""The person's side of data-subject rights: `/my-data`."""

from flask import Blueprint

bp = Blueprint("rights", __name__)

from consentapp.rights import routes  # noqa: E402,F401
