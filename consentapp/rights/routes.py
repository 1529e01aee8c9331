"""`/my-data`: ask, prove it is your address, then see, get, correct or erase your data."""

from __future__ import annotations

import json

from flask import Response, current_app, render_template, request

from consentapp.extensions import limiter
from consentapp.form_fields import choices
from consentapp.i18n import current_language
from consentapp.links import preferences_url
from consentapp.models import RequestKind, RequestStatus
from consentapp.request_checks import View
from consentapp.rights import bp
from consentapp.rights.forms import KINDS, ContinueForm, RightsForm
from consentapp.services.contact_details import normalise_email
from consentapp.services.rights import (
    carry_out,
    mark_verified,
    read_identity_link,
    submit_request,
)
from consentapp.services.rights_export import build_export, export_csv, read_export_link
from consentapp.services.topics import topic_labels
from consentapp.tokens import TokenExpired


def _rate_limit() -> str:
    return str(current_app.config["SUBSCRIBE_RATE_LIMIT"])


@bp.route("/my-data", methods=["GET", "POST"])
@limiter.limit(_rate_limit, methods=["POST"])
def my_data() -> View:
    """The request form; the same answer whether or not we know the address."""
    form = RightsForm()
    form.kind.choices = choices(KINDS)
    if request.method == "GET":
        form.kind.data = (
            request.args.get("kind") if request.args.get("kind") in dict(KINDS) else None
        )
        return render_template("rights/request.html", form=form)
    if not form.validate():
        return render_template("rights/request.html", form=form), 400
    if not form.website.data:
        submit_request(
            normalise_email(form.email.data or ""), form.kind.data or "", current_language()
        )
    return render_template("rights/check_mail.html")


@bp.route("/my-data/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> View:
    """The identity check. GET shows the request and one button; POST carries it out."""
    try:
        link = read_identity_link(token)
    except TokenExpired:
        return render_template("rights/link_expired.html"), 410
    form = ContinueForm()
    req = link.request
    if req.status not in (RequestStatus.UNVERIFIED, RequestStatus.VERIFIED):
        return render_template("rights/already_handled.html", req=req), 409
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 400
        return render_template("rights/confirm.html", form=form, req=req), status
    if req.status == RequestStatus.UNVERIFIED:
        mark_verified(req, "link sent to the address on file")
    outcome = carry_out(req, link.contact)
    return render_template(
        "rights/done.html",
        req=req,
        outcome=outcome,
        data=build_export(link.contact) if outcome.export_token else None,
        topic_labels=topic_labels(current_language()),
        preferences_url=preferences_url(link.contact)
        if req.kind == RequestKind.RECTIFICATION
        else None,
    )


@bp.get("/my-data/export/<token>.<fmt>")
def export(token: str, fmt: str) -> Response | tuple[str, int]:
    """The copy of one's data, as JSON or CSV (the link works for an hour)."""
    try:
        contact = read_export_link(token)
    except TokenExpired:
        return render_template("rights/link_expired.html"), 410
    data = build_export(contact)
    headers = {"Content-Disposition": f'attachment; filename="my-data.{fmt}"'}
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        return Response(body, mimetype="application/json", headers=headers)
    if fmt == "csv":
        return Response("".join(export_csv(data)), mimetype="text/csv", headers=headers)
    return render_template("subscriptions/link_problem.html", kind="invalid"), 404
