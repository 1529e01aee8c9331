"""The contact form. Field names are a contract: the company's own site may post here."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from consentapp.form_fields import (
    MultiCheckboxField,
    free_text,
    single_line,
    valid_email,
    valid_phone,
)


class ContactForm(FlaskForm):
    """`/contact`: name, e-mail and message are required; the rest is optional."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200), single_line])
    email = EmailField(
        _l("E-mail address"), validators=[InputRequired(), Length(max=254), valid_email]
    )
    company = StringField(
        _l("Company or office"), validators=[Optional(), Length(max=200), single_line]
    )
    address = TextAreaField(_l("Address"), validators=[Optional(), Length(max=500), free_text])
    phone = TelField(_l("Phone"), validators=[Optional(), Length(max=40), valid_phone])
    fax = TelField(_l("Fax"), validators=[Optional(), Length(max=40), valid_phone])
    message = TextAreaField(
        _l("Your message"), validators=[DataRequired(), Length(min=2, max=5000), free_text]
    )
    subscribe = BooleanField(_l("I would also like to receive newsletters"), default=False)
    topics = MultiCheckboxField(_l("Newsletters"), choices=[], validate_choice=True)
    # Bot trap: hidden from people by CSS, filled in by naive bots.
    website = StringField(_l("Leave this field empty"))
    notice_version = HiddenField()

    def validate_topics(self, field: Field) -> None:
        """The newsletter box and the topic choice go together."""
        if field.data and not self.subscribe.data:
            raise ValidationError(_l("Tick the newsletter box to choose newsletters."))
        if self.subscribe.data and not field.data:
            raise ValidationError(_l("Choose at least one newsletter."))
