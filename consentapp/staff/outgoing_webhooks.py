"""Outgoing webhooks in the staff area (admins): the endpoints, adding one (its secret
shown once), each endpoint's delivery log (paged, filtered by status) with "send
again", and managing an endpoint: edit, switch on/off, rotate its secret, send a test
event, delete."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.models import WebhookDelivery, WebhookEndpoint, WebhookStatus
from consentapp.request_checks import View, small_int
from consentapp.services import outgoing_webhooks as hooks
from consentapp.services import webhook_admin as admin
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import ButtonForm, SendAgainForm, WebhookForm, WebhookSwitchForm


def _endpoint(public_id: str) -> WebhookEndpoint:
    endpoint: WebhookEndpoint = db.one_or_404(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.public_id == public_id)
    )
    return endpoint


def _expired() -> View:
    return _("The form expired; open the page again."), 400


def _back(endpoint: WebhookEndpoint) -> BaseResponse:
    return redirect(url_for("staff.webhook", public_id=endpoint.public_id))


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks() -> View:
    """The endpoints; a valid form adds one and shows its signing secret once."""
    form = WebhookForm()
    secret = None
    if form.validate_on_submit():
        try:
            secret = hooks.add_endpoint(
                admin.guarded_url(form.url.data or ""),
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
    """One endpoint: its settings, the buttons that manage it, and its delivery log
    (status, response code, time, next try), a page at a time, of one status or all."""
    endpoint = _endpoint(public_id)
    page = min(small_int(request.args.get("page"), 1) or 1, 100_000)
    try:
        status = admin.read_status(request.args.get("status"))
    except hooks.WebhookError as problem:
        return render_log(endpoint, None, 1, str(problem)), 400
    return render_log(endpoint, status, page)


def render_log(
    endpoint: WebhookEndpoint, status: WebhookStatus | None, page: int, problem: str = ""
) -> str:
    return render_template(
        "staff/webhook.html",
        endpoint=endpoint,
        result=admin.delivery_page(endpoint, status, page),
        status=status.value if status else "",
        statuses=[s.value for s in WebhookStatus],
        problem=problem,
        form=SendAgainForm(),
        switch=WebhookSwitchForm(state="off" if endpoint.active else "on"),
    )


@bp.route("/webhooks/<public_id>/edit", methods=["GET", "POST"])
def webhook_edit(public_id: str) -> View | BaseResponse:
    """Change the URL (checked by the SSRF guard), the events and the personal fields."""
    endpoint = _endpoint(public_id)
    form = WebhookForm(
        data={"url": endpoint.url, "events": endpoint.events, "personal": endpoint.include_personal}
        if request.method == "GET"
        else None
    )
    if form.validate_on_submit():
        try:
            admin.edit_endpoint(
                endpoint,
                form.url.data or "",
                form.events.data or [],
                bool(form.personal.data),
                current_staff(),
            )
            flash(_("The endpoint is saved."), "success")
            return _back(endpoint)
        except hooks.WebhookError as problem:
            form.url.errors = [str(problem)]
    html = render_template("staff/webhook_edit.html", endpoint=endpoint, form=form)
    return html, 400 if form.is_submitted() else 200


@bp.post("/webhooks/<public_id>/switch")
def webhook_switch(public_id: str) -> View | BaseResponse:
    """Switch the endpoint on or off (the form says which)."""
    endpoint = _endpoint(public_id)
    form = WebhookSwitchForm()
    if not form.validate():
        return _expired()
    on = form.state.data == "on"
    admin.switch(endpoint, on, current_staff())
    flash(
        _("The endpoint is switched on.") if on else _("The endpoint is switched off."), "success"
    )
    return _back(endpoint)


@bp.route("/webhooks/<public_id>/rotate-secret", methods=["GET", "POST"])
def webhook_rotate_secret(public_id: str) -> View:
    """Ask first; then a new signing secret, in force at once and shown only now."""
    endpoint = _endpoint(public_id)
    form = ButtonForm()
    if request.method == "POST" and not form.validate():
        return _expired()
    secret = admin.rotate_secret(endpoint, current_staff()) if request.method == "POST" else None
    return render_template("staff/webhook_rotate.html", endpoint=endpoint, form=form, secret=secret)


@bp.post("/webhooks/<public_id>/test")
def webhook_test(public_id: str) -> View | BaseResponse:
    """Queue a `webhook.test` event for this endpoint (it must be switched on)."""
    endpoint = _endpoint(public_id)
    if not ButtonForm().validate():
        return _expired()
    if not endpoint.active:
        flash(_("Switch the endpoint on first: nothing is sent to it while it is off."), "error")
        return _back(endpoint)
    admin.send_test(endpoint, current_staff())
    flash(_("A test event is queued; it appears in the log below."), "success")
    return _back(endpoint)


@bp.route("/webhooks/<public_id>/delete", methods=["GET", "POST"])
def webhook_delete(public_id: str) -> View | BaseResponse:
    """Ask first; then remove the endpoint, its log and the deliveries not yet sent."""
    endpoint = _endpoint(public_id)
    form = ButtonForm()
    if request.method == "GET":
        pending = admin.pending_count(endpoint)
        return render_template(
            "staff/webhook_delete.html", endpoint=endpoint, form=form, pending=pending
        )
    if not form.validate():
        return _expired()
    admin.delete_endpoint(endpoint, current_staff())
    flash(_("The endpoint is deleted."), "success")
    return redirect(url_for("staff.webhooks"))


@bp.post("/webhooks/<public_id>/deliveries/<delivery_id>/send-again")
def send_webhook_again(public_id: str, delivery_id: str) -> View | BaseResponse:
    """Queue one delivery again now (switching a disabled endpoint back on)."""
    delivery = db.one_or_404(
        sa.select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.public_id == public_id, WebhookDelivery.public_id == delivery_id)
    )
    if not SendAgainForm().validate():
        return _expired()
    hooks.send_again(delivery, current_staff())
    flash(_("The delivery is queued again."), "success")
    return redirect(url_for("staff.webhook", public_id=public_id))
