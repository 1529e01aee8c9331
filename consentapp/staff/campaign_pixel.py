"""The open pixel of a campaign: only in the mails of those who agreed to personal
statistics, and only when an admin switches it on before the campaign is sent."""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from consentapp.request_checks import View
from consentapp.services.campaign_insights import set_open_pixel
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.campaigns import find_campaign
from consentapp.staff.forms import ButtonForm


@bp.post("/campaigns/<public_id>/open-pixel")
def campaign_open_pixel(public_id: str) -> View:
    """`open_pixel=1` adds the pixel to consenting readers' mails, `0` leaves it out."""
    found = find_campaign(public_id)
    wanted = request.form.get("open_pixel")
    if not ButtonForm().validate() or wanted not in ("0", "1"):
        abort(400)
    if not set_open_pixel(found, wanted == "1", current_staff()):
        flash(_("Only a newsletter not sent yet can change this."), "error")
    elif wanted == "1":
        flash(_("Opens will be counted for readers who agreed to personal statistics."), "success")
    else:
        flash(_("No open pixel: opens are not counted."), "success")
    return redirect(url_for("staff.campaign", public_id=public_id))
