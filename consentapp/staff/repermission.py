"""Re-permission rounds in the staff area: choose who is asked, see how many before
sending, follow the answers, and after the deadline let the unanswered lapse (or
close the round without that), each step on a page that says what it does."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from consentapp.extensions import db
from consentapp.form_fields import topic_choices
from consentapp.i18n import current_language
from consentapp.models import Repermission, RepermissionRule, StaffUser
from consentapp.request_checks import View, small_int
from consentapp.services import repermission as service
from consentapp.services.campaigns import CampaignError
from consentapp.services.notices import latest_version
from consentapp.services.topics import active_topics
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.campaign_forms import RepermissionForm
from consentapp.staff.forms import ButtonForm


@bp.route("/repermission", methods=["GET", "POST"])
def repermissions() -> View:
    """The rounds so far and a new one: POST shows who it would ask, then starts it."""
    form = RepermissionForm()
    topics = {topic.slug: topic for topic in active_topics()}
    form.topics.choices = topic_choices(topics.values(), current_language())
    if request.method == "GET":
        version = small_int(request.args.get("version"))  # offered by the notice page
        if version is not None:
            form.rule.data, form.notice_version.data = "notice_before", version
        return _rounds_page(form)
    if not form.validate():
        return _rounds_page(form, 400)
    choice = service.RoundChoice(
        RepermissionRule(form.rule.data),
        form.months.data,
        form.notice_version.data,
        tuple(topics[slug] for slug in form.topics.data or []),
    )
    try:
        if request.form.get("confirmed") != "1":
            found = service.preview(choice)
            return render_template(
                "staff/repermission_confirm.html", form=form, preview=found, choice=choice
            )
        started = service.start_round(choice, form.days.data or 0, current_staff())
    except CampaignError as exc:
        form.rule.errors = [exc.translated()]
        return _rounds_page(form, 409)
    flash(_("The mails are on their way: people may answer until the deadline."), "success")
    return redirect(url_for("staff.repermission", public_id=started.public_id))


def _rounds_page(form: RepermissionForm, status: int = 200) -> tuple[str, int]:
    rounds = db.session.scalars(
        sa.select(Repermission).order_by(Repermission.created_at.desc())
    ).all()
    page = render_template(
        "staff/repermissions.html", form=form, rounds=rounds, latest_version=latest_version()
    )
    return page, status


def find_round(public_id: str) -> Repermission:
    found: Repermission = db.one_or_404(
        sa.select(Repermission).where(Repermission.public_id == public_id)
    )
    return found


@bp.get("/repermission/<public_id>")
def repermission(public_id: str) -> str:
    """One round: who was asked, who answered, who may still answer, who lapsed."""
    found = find_round(public_id)
    return render_template(
        "staff/repermission.html",
        round=found,
        figures=service.figures(found),
        past_deadline=service.is_past_deadline(found),
        created_by=db.session.get(StaffUser, found.created_by_id or 0),
        closed_by=db.session.get(StaffUser, found.closed_by_id or 0),
        button=ButtonForm(),
    )


@bp.post("/repermission/<public_id>/<action>")
def repermission_action(public_id: str, action: str) -> View:
    """Lapse (after a page naming who would lapse) or close a round."""
    found = find_round(public_id)
    if not ButtonForm().validate():  # the actions are only lapse and close (permissions)
        abort(400)
    try:
        if action == "lapse" and request.form.get("confirmed") != "1":
            return render_template(
                "staff/repermission_lapse.html",
                round=found,
                preview=service.lapse_preview(found),
                button=ButtonForm(),
            )
        if action == "lapse":
            count = service.lapse(found, current_staff())
            message = ngettext(
                "%(num)s person no longer receives what they did not confirm.",
                "%(num)s people no longer receive what they did not confirm.",
                count,
            )
            flash(message, "success")
        else:
            service.close_round(found, current_staff())
            flash(_("The round is closed; nobody was set to lapse."), "info")
    except CampaignError as exc:
        flash(exc.translated(), "info")
    return redirect(url_for("staff.repermission", public_id=public_id))
