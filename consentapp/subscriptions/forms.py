"""Forms of the subscription pages. `/subscribe` field names are a contract."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    SelectField,
    StringField,
)

from consentapp.form_fields import (
    Form,
    MultiCheckboxField,
    detail_field,
    email_field,
    language_choices,
    statistics_field,
)


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
