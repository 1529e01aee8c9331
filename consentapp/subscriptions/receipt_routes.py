"""The consent receipt downloads, opened with the same signed link as the preferences page."""

from __future__ import annotations

import json

from flask import Response, render_template

from consentapp.i18n import current_language
from consentapp.request_checks import View
from consentapp.services.preferences import PreferencesAccess, mask_email, read_preferences_token
from consentapp.services.receipts import Receipt, build_receipt, receipt_json
from consentapp.subscriptions import bp
from consentapp.subscriptions.routes import link_problem
from consentapp.tokens import TokenExpired


def _open_receipt(token: str) -> Receipt | tuple[str, int]:
    """A bad link raises TokenInvalid (a 4xx page); a footer link may have been
    forwarded, so its receipt shows the address masked, like the preferences page."""
    try:
        access: PreferencesAccess = read_preferences_token(token)
    except TokenExpired:
        return link_problem("preferences_expired", 410)
    contact = access.contact
    shown = contact.mail_address if access.full else mask_email(contact.mail_address)
    return build_receipt(contact, current_language(), email=shown)


@bp.get("/preferences/<token>/receipt")
def receipt(token: str) -> View:
    """The receipt as a page to print or save."""
    found = _open_receipt(token)
    if not isinstance(found, Receipt):
        return found
    return render_template("subscriptions/receipt.html", receipt=found, token=token)


@bp.get("/preferences/<token>/receipt.json")
def receipt_download(token: str) -> View:
    """The same receipt, machine-readable: keys listed in the README."""
    found = _open_receipt(token)
    if not isinstance(found, Receipt):
        return found
    body = json.dumps(receipt_json(found), ensure_ascii=False, indent=2)
    headers = {"Content-Disposition": 'attachment; filename="consent-receipt.json"'}
    return Response(body, mimetype="application/json", headers=headers)
