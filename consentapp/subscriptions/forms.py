"""Forms of the subscription pages. `/subscribe` field names are a contract."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import AnyOf, InputRequired

from consentapp.form_fields import (
    Form,
    MultiCheckboxField,
    detail_field,
    email_field,
    language_choices,
    statistics_field,
)
from consentapp.models import FeedbackAnswer


class AddressForm(Form):
    """`/preferences`: the address to send a preferences link to."""

    email = email_field()
    website = StringField(_l("Leave this field empty"))


class ButtonForm(Form):
    """A single confirming button: only the CSRF token."""


class PreferencesForm(Form):
    """Topics, language and contact details on the preferences page."""

    topics = MultiCheckboxField(_l("Newsletters"), choices=[], validate_choice=True)
    language = SelectField(_l("Language of the mails"), choices=language_choices())
    statistics = statistics_field()
    name = detail_field("name")
    company = detail_field("company")
    address = detail_field("address")
    phone = detail_field("phone")
    fax = detail_field("fax")


class EmailChangeForm(Form):
    """A new address: verified by mail before it replaces the old one."""

    new_email = email_field(_l("New e-mail address"))


FEEDBACK_CHOICES = [
    SelectChoice(FeedbackAnswer.TOO_MANY.value, _l("I got too many mails")),
    SelectChoice(FeedbackAnswer.NOT_RELEVANT.value, _l("The mails are not relevant to me")),
    SelectChoice(FeedbackAnswer.NEVER_ASKED.value, _l("I never asked for these mails")),
    SelectChoice(FeedbackAnswer.OTHER.value, _l("Another reason")),
]


class FeedbackForm(Form):
    """The optional question after unsubscribing: fixed answers, none chosen before,
    and a token naming the campaign (or none) and a nonce, never the person."""

    survey = HiddenField()
    answer = RadioField(
        _l("Why did you unsubscribe?"),
        choices=FEEDBACK_CHOICES,
        validate_choice=False,
        validators=[
            InputRequired(_l("Choose one of the answers, or simply leave this page.")),
            AnyOf(
                [choice.value for choice in FEEDBACK_CHOICES],
                message=_l("Choose one of the answers listed."),
            ),
        ],
    )
