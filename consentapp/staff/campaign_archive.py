"""Publishing a campaign in the public archive (`/archive`), or taking it out again:
who may send campaigns decides (consentapp/permissions.py)."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from consentapp.request_checks import View
from consentapp.services import archive
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.campaigns import find_campaign
from consentapp.staff.forms import ButtonForm


@bp.post("/campaigns/<public_id>/archive")
def campaign_archive(public_id: str) -> View:
    """`in_archive=1` publishes the campaign (it shows once sent), `0` takes it out."""
    found = find_campaign(public_id)
    wanted = request.form.get("in_archive")
    if not ButtonForm().validate() or wanted not in ("0", "1"):
        abort(400)
    archive.set_in_archive(found, wanted == "1", current_staff())
    if wanted == "1":
        flash(_("The newsletter is in the public archive once it is sent."), "success")
    else:
        flash(_("The newsletter is no longer in the public archive."), "success")
    return redirect(url_for("staff.campaign", public_id=public_id))
