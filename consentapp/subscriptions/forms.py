"""Forms of the subscription pages. `/subscribe` field names are a contract."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from consentapp.form_fields import (
    MultiCheckboxField,
    free_text,
    language_choices,
    single_line,
    valid_email,
    valid_phone,
)


class SubscribeForm(FlaskForm):
    """`/subscribe`: e-mail, optional name, one or more topics, language."""

    email = EmailField(
        _l("E-mail address"), validators=[InputRequired(), Length(max=254), valid_email]
    )
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200), single_line])
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
    website = StringField(_l("Leave this field empty"))
    notice_version = HiddenField()


class AddressForm(FlaskForm):
    """`/preferences`: the address to send a preferences link to."""

    email = EmailField(
        _l("E-mail address"), validators=[InputRequired(), Length(max=254), valid_email]
    )
    website = StringField(_l("Leave this field empty"))


class ButtonForm(FlaskForm):
    """A single confirming button: only the CSRF token."""


class PreferencesForm(FlaskForm):
    """Topics, language and contact details on the preferences page."""

    topics = MultiCheckboxField(_l("Newsletters"), choices=[], validate_choice=True)
    language = SelectField(_l("Language of the mails"), choices=language_choices())
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200), single_line])
    company = StringField(
        _l("Company or office"), validators=[Optional(), Length(max=200), single_line]
    )
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=500), free_text])
    phone = TelField(_l("Phone"), validators=[Optional(), Length(max=40), valid_phone])
    fax = TelField(_l("Fax"), validators=[Optional(), Length(max=40), valid_phone])


class EmailChangeForm(FlaskForm):
    """A new address: verified by mail before it replaces the old one."""

    new_email = EmailField(
        _l("New e-mail address"), validators=[InputRequired(), Length(max=254), valid_email]
    )
