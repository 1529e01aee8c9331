"""The subscribe form, shown on the home page and on `/subscribe`; its field names are
a contract (the company's own site may post here)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Optional

from consentapp.form_fields import (
    Form,
    MultiCheckboxField,
    altcha_field,
    detail_field,
    email_field,
    language_choices,
    statistics_field,
    topic_choices,
)
from consentapp.i18n import current_language
from consentapp.request_checks import form_meta
from consentapp.services.reference import offered_topics


class SubscribeForm(Form):
    """`/subscribe`: e-mail, optional name, one or more topics, language."""

    email = email_field()
    name = detail_field("name")
    topics = MultiCheckboxField(
        _l("Newsletters"),
        choices=[],
        validate_choice=True,
        validators=[InputRequired(_l("Choose at least one newsletter."))],
    )
    # Optional for sites that post here directly: the page's language is used then.
    language = SelectField(
        _l("Language of the mails"), choices=language_choices(), validators=[Optional()]
    )
    # A consent of its own, beside the newsletters; the name is part of the contract.
    statistics = statistics_field()
    website = StringField(_l("Leave this field empty"))
    notice_version = HiddenField()
    altcha = altcha_field()


def subscribe_form(formdata: MultiDict[str, str] | None = None) -> SubscribeForm:
    """The subscribe form with the topics on offer, in the page's language.

    Posted from a listed origin (`EMBED_ORIGINS`) it takes no CSRF token; with
    `formdata` (fields sent as JSON by a script on such a site) neither.
    """
    language = current_language()
    if formdata is None:
        form = SubscribeForm(meta=form_meta())
    else:
        form = SubscribeForm(formdata=formdata, meta={"csrf": False})
    form.topics.choices = topic_choices(offered_topics(), language)
    if not form.is_submitted():
        form.language.data = language
    return form
