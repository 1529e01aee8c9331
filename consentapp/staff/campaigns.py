"""Newsletter campaigns in the staff area: write, preview, test, submit; admins send."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from consentapp.extensions import db
from consentapp.form_fields import choices
from consentapp.i18n import current_language, supported_languages
from consentapp.models import Campaign, FeedbackAnswer, StaffUser, Topic
from consentapp.request_checks import View
from consentapp.services import campaign_drafts, campaign_sending
from consentapp.services import campaigns as campaign_service
from consentapp.services.bounces_admin import campaign_figures
from consentapp.services.campaign_audience import AudienceChoice, audience
from consentapp.services.campaign_insights import click_report, click_report_csv, opens
from consentapp.services.campaigns import N_
from consentapp.services.small_counts import breakdown
from consentapp.services.topics import active_topics
from consentapp.services.unsubscribe_feedback import campaign_answers
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.campaign_forms import CampaignForm, ScheduleForm, audience_languages
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
    topics = _topic_choices(form)
    if request.method == "POST" and form.validate():
        try:
            campaign = campaign_drafts.create_campaign(
                _choice(form, topics), *_texts(form), current_staff()
            )
        except campaign_service.CampaignError as exc:
            form.subject_nl.errors = [exc.translated()]
        else:
            return redirect(url_for("staff.campaign", public_id=campaign.public_id))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/campaign_new.html", form=form), status


@bp.route("/campaigns/<public_id>/edit", methods=["GET", "POST"])
def edit_campaign(public_id: str) -> View:
    """Change a newsletter until it is scheduled (the texts and the newsletter it is for).
    A change that comes too late is refused with the typed text still in the form."""
    found = find_campaign(public_id)
    if request.method == "GET" and found.status not in campaign_service.EDITABLE_STATUSES:
        flash(campaign_service.CampaignError(campaign_drafts.TOO_LATE).translated(), "info")
        return redirect(url_for("staff.campaign", public_id=public_id))
    form = CampaignForm(obj=None if request.method == "POST" else found)
    topics = _topic_choices(form, found)
    refusal, status = None, 400 if request.method == "POST" else 200
    if request.method == "GET":
        form.topic.data = found.topic.slug
        form.more_topics.data = [t.slug for t in found.all_topics[1:]]
    elif form.validate():
        try:
            changed = campaign_drafts.edit_campaign(
                found, _choice(form, topics), *_texts(form), current_staff()
            )
        except campaign_service.CampaignError as exc:
            db.session.rollback()
            refusal, status = exc.translated(), 409
        else:
            flash(_("Changes saved.") if changed else _("Nothing was changed."), "success")
            return redirect(url_for("staff.campaign", public_id=public_id))
    return render_template(
        "staff/campaign_new.html", form=form, campaign=found, refusal=refusal
    ), status


def _topic_choices(form: CampaignForm, current: Campaign | None = None) -> dict[str, Topic]:
    """The newsletters one can write for (the campaign's own too, even if closed since),
    and the languages its audience may be limited to."""
    topics = {t.slug: t for t in active_topics()}
    for topic in current.all_topics if current is not None else ():
        topics.setdefault(topic.slug, topic)
    named = [(slug, t.label(current_language())) for slug, t in topics.items()]
    form.topic.choices, form.more_topics.choices = choices(named), choices(named)
    form.audience_language.choices = audience_languages()
    return topics


def _choice(form: CampaignForm, topics: dict[str, Topic]) -> AudienceChoice:
    """The audience the form describes: its main newsletter first."""
    slugs = [form.topic.data or "", *(form.more_topics.data or [])]
    return AudienceChoice(
        tuple(topics[slug] for slug in dict.fromkeys(slugs)),
        form.audience_language.data or None,
        bool(form.customers_only.data),
    )


def _texts(form: CampaignForm) -> tuple[str, str, str, str]:
    return (
        form.subject_nl.data or "",
        form.body_nl.data or "",
        form.subject_en.data or "",
        form.body_en.data or "",
    )


def find_campaign(public_id: str) -> Campaign:
    found: Campaign = db.one_or_404(sa.select(Campaign).where(Campaign.public_id == public_id))
    return found


@bp.get("/campaigns/<public_id>")
def campaign(public_id: str) -> str:
    """Preview in both languages, progress, and the actions left."""
    return _campaign_page(find_campaign(public_id), ScheduleForm())


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
        audience=audience(found) if found.status in campaign_service.EDITABLE_STATUSES else None,
        bounce_figures=campaign_figures(found),
        clicks=click_report(found),
        opens=opens(found),
        feedback=breakdown(counts := campaign_answers(found)),
        never_asked=counts[FeedbackAnswer.NEVER_ASKED] > 0,
        button=ButtonForm(),
        schedule_form=schedule_form,
        submitted_by=db.session.get(StaffUser, found.submitted_by_id or 0),
        approved_by=db.session.get(StaffUser, found.approved_by_id or 0),
    )


@bp.get("/campaigns/<public_id>/clicks.csv")
def campaign_clicks_csv(public_id: str) -> Response:
    """The click report as CSV, with the same "< 5" as the page."""
    found = find_campaign(public_id)
    return Response(
        click_report_csv(click_report(found)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="clicks-{found.public_id}.csv"'},
    )


@bp.post("/campaigns/<public_id>/<action>")
def campaign_action(public_id: str, action: str) -> View:
    """test, submit, withdraw, send, pause, resume, cancel (who may: consentapp/permissions).
    Send and cancel first answer with a page to confirm; its button (`confirmed=1`) acts."""
    found = find_campaign(public_id)
    form = ScheduleForm()
    if action == "send" and not form.validate():
        return _campaign_page(found, form), 400
    try:
        if action in CONFIRMED_ACTIONS and request.form.get("confirmed") != "1":
            return _confirmation(found, action, form)
        _run_action(found, action, current_staff(), form.at_utc)
    except campaign_service.CampaignError as exc:
        db.session.rollback()
        flash(exc.translated(), "info")
    return redirect(url_for("staff.campaign", public_id=public_id))


CONFIRMED_ACTIONS = frozenset({"send", "cancel"})


def _confirmation(found: Campaign, action: str, form: ScheduleForm) -> str:
    """What sending or cancelling would do, named before it is done. Sending carries
    the fingerprint of the text shown on the campaign's page, where the admin read it."""
    if action == "send":
        if found.status not in campaign_service.EDITABLE_STATUSES:
            raise campaign_service.CampaignError(N_("this newsletter is no longer a draft"))
        if request.form.get("revision") != found.revision:
            raise campaign_service.CampaignError(campaign_service.CHANGED_SINCE_READ)
    elif found.status in campaign_service.FINAL_STATUSES:
        raise campaign_service.CampaignError(N_("the campaign is finished already"))
    report = campaign_service.report(found)
    return render_template(
        "staff/campaign_confirm.html",
        campaign=found,
        action=action,
        schedule_form=form,
        audience=audience(found) if action == "send" else None,
        report=report,
        queued=sum(report.by_status.values()),
        button=ButtonForm(),
    )


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
        _approve(found, actor, at)
    elif action == "pause":
        campaign_service.pause(found, actor)
    elif action == "resume":
        campaign_service.resume(found, actor)
    elif action == "cancel":
        count = campaign_service.cancel(found, actor)
        flash(
            ngettext(
                "The newsletter is cancelled; %(num)s mail was not sent.",
                "The newsletter is cancelled; %(num)s mails were not sent.",
                count,
            ),
            "info",
        )
    else:
        abort(404)


def _approve(found: Campaign, actor: StaffUser, at: datetime | None) -> None:
    """Send what the admin confirmed, only if it is still the text they read."""
    campaign_service.schedule(found, at, actor, read=request.form.get("revision", ""))
    flash(_("The campaign is queued."), "success")
