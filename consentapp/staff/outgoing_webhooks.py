"""Outgoing webhooks in the staff area (admins): the endpoints, adding one (its secret
shown once), each endpoint's delivery log, and "send again"."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.models import WebhookDelivery, WebhookEndpoint
from consentapp.request_checks import View
from consentapp.services import outgoing_webhooks as hooks
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import SendAgainForm, WebhookForm


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks() -> View:
    """The endpoints; a valid form adds one and shows its signing secret once."""
    form = WebhookForm()
    secret = None
    if form.validate_on_submit():
        try:
            secret = hooks.add_endpoint(
                form.url.data or "",
                form.events.data or [],
                include_personal=bool(form.personal.data),
                actor=current_staff(),
            )[1]
        except hooks.WebhookError as problem:
            form.url.errors = [str(problem)]
    status = 400 if form.is_submitted() and secret is None else 200
    html = render_template(
        "staff/webhooks.html", form=form, endpoints=hooks.endpoints(), secret=secret
    )
    return html, status


@bp.get("/webhooks/<public_id>")
def webhook(public_id: str) -> View:
    """One endpoint's latest deliveries: status, response code, time, next try."""
    endpoint = db.one_or_404(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.public_id == public_id)
    )
    return render_template(
        "staff/webhook.html",
        endpoint=endpoint,
        deliveries=hooks.delivery_log(endpoint),
        form=SendAgainForm(),
    )


@bp.post("/webhooks/<public_id>/deliveries/<delivery_id>/send-again")
def send_webhook_again(public_id: str, delivery_id: str) -> View | BaseResponse:
    """Queue one delivery again now (switching a disabled endpoint back on)."""
    delivery = db.one_or_404(
        sa.select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.public_id == public_id, WebhookDelivery.public_id == delivery_id)
    )
    if not SendAgainForm().validate():
        return _("The form expired; open the page again."), 400
    hooks.send_again(delivery, current_staff())
    flash(_("The delivery is queued again."), "success")
    return redirect(url_for("staff.webhook", public_id=public_id))
