"""Newsletter campaigns in the staff area: write, preview, test, submit; admins send."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from consentapp.extensions import db
from consentapp.form_fields import choices
from consentapp.i18n import current_language, supported_languages
from consentapp.models import Campaign, StaffUser
from consentapp.request_checks import View
from consentapp.services import campaign_sending
from consentapp.services import campaigns as campaign_service
from consentapp.services.bounces_admin import campaign_figures
from consentapp.services.topics import active_topics
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.campaign_forms import CampaignForm, ScheduleForm
from consentapp.staff.forms import ButtonForm


@bp.get("/campaigns")
def campaigns() -> str:
    """Every campaign, newest first."""
    rows = db.session.scalars(sa.select(Campaign).order_by(Campaign.created_at.desc())).all()
    return render_template("staff/campaigns.html", rows=rows)


@bp.route("/campaigns/new", methods=["GET", "POST"])
def new_campaign() -> View:
    """Write a newsletter (saved as a draft)."""
    form = CampaignForm()
    topics = active_topics()
    form.topic.choices = choices((t.slug, t.label(current_language())) for t in topics)
    if request.method == "POST" and form.validate():
        topic = next(t for t in topics if t.slug == form.topic.data)
        try:
            campaign = campaign_service.create_campaign(
                topic,
                form.subject_nl.data or "",
                form.body_nl.data or "",
                form.subject_en.data or "",
                form.body_en.data or "",
                current_staff(),
            )
        except campaign_service.CampaignError as exc:
            form.subject_nl.errors = [str(exc)]
        else:
            return redirect(url_for("staff.campaign", public_id=campaign.public_id))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/campaign_new.html", form=form), status


@bp.get("/campaigns/<public_id>")
def campaign(public_id: str) -> str:
    """Preview in both languages, progress, and the actions left."""
    found: Campaign = db.one_or_404(sa.select(Campaign).where(Campaign.public_id == public_id))
    return _campaign_page(found, ScheduleForm())


def _campaign_page(found: Campaign, schedule_form: ScheduleForm) -> str:
    previews = {
        language: {
            "subject": found.subject(language),
            "html": campaign_sending.render_body(found.body(language))[0],
        }
        for language in supported_languages()
    }
    return render_template(
        "staff/campaign.html",
        campaign=found,
        previews=previews,
        report=campaign_service.report(found),
        bounce_figures=campaign_figures(found),
        button=ButtonForm(),
        schedule_form=schedule_form,
        submitted_by=db.session.get(StaffUser, found.submitted_by_id or 0),
        approved_by=db.session.get(StaffUser, found.approved_by_id or 0),
    )


@bp.post("/campaigns/<public_id>/<action>")
def campaign_action(public_id: str, action: str) -> View:
    """test, submit, withdraw, send, pause, resume, cancel (who may: consentapp/permissions)."""
    found: Campaign = db.one_or_404(sa.select(Campaign).where(Campaign.public_id == public_id))
    form = ScheduleForm()
    if action == "send" and not form.validate():
        return _campaign_page(found, form), 400
    try:
        _run_action(found, action, current_staff(), form.at_utc)
    except campaign_service.CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "info")
    return redirect(url_for("staff.campaign", public_id=public_id))


def _run_action(found: Campaign, action: str, actor: StaffUser, at: datetime | None = None) -> None:
    """One action on the campaign; the service refuses what its state does not allow."""
    if action == "test":
        campaign_sending.send_test(found, actor)
        flash(_("A test in both languages is on its way to %(email)s.", email=actor.email), "info")
    elif action == "submit":
        campaign_service.submit(found, actor)
        flash(_("The campaign waits for an admin's approval."), "success")
    elif action == "withdraw":
        campaign_service.withdraw(found, actor)
        flash(_("The campaign is a draft again."), "info")
    elif action == "send":
        campaign_service.schedule(found, at, actor)
        flash(_("The campaign is queued."), "success")
    elif action == "pause":
        campaign_service.pause(found, actor)
    elif action == "resume":
        campaign_service.resume(found, actor)
    elif action == "cancel":
        campaign_service.cancel(found, actor)
    else:
        abort(404)
