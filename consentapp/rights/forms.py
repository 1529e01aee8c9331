"""Forms of the data-rights pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, StringField
from wtforms.validators import InputRequired, Length

from consentapp.form_fields import valid_email
from consentapp.models import RequestKind

KINDS = [
    (RequestKind.ACCESS.value, _l("See my data and get a copy")),
    (RequestKind.RECTIFICATION.value, _l("Correct my data")),
    (RequestKind.ERASURE.value, _l("Erase my data")),
    (RequestKind.OBJECTION.value, _l("Stop all direct marketing to me")),
]


class RightsForm(FlaskForm):
    """The address and what the person asks for."""

    email = EmailField(
        _l("Your e-mail address"), validators=[InputRequired(), Length(max=254), valid_email]
    )
    kind = RadioField(_l("What would you like?"), choices=[], validators=[InputRequired()])
    website = StringField(_l("Leave this field empty"))


class ContinueForm(FlaskForm):
    """One button after opening the verification link."""
