"""Forms of the data-rights pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, StringField
from wtforms.validators import InputRequired

from consentapp.form_fields import Form, email_field
from consentapp.models import RequestKind

KINDS = [
    (RequestKind.ACCESS, _l("See my data and get a copy")),
    (RequestKind.RECTIFICATION, _l("Correct my data")),
    (RequestKind.ERASURE, _l("Erase my data")),
    (RequestKind.OBJECTION, _l("Stop all direct marketing to me")),
]


class RightsForm(Form):
    """The address and what the person asks for."""

    email = email_field(_l("Your e-mail address"))
    kind = RadioField(_l("What would you like?"), choices=[], validators=[InputRequired()])
    website = StringField(_l("Leave this field empty"))


class ContinueForm(Form):
    """One button after opening the verification link."""
