"""The contact form. Field names are a contract: the company's own site may post here."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    StringField,
    TextAreaField,
)
from wtforms.validators import ValidationError

from consentapp.form_fields import (
    DataRequired,
    Form,
    Length,
    MultiCheckboxField,
    altcha_field,
    detail_field,
    email_field,
    free_text,
)


class ContactForm(Form):
    """`/contact`: name, e-mail and message are required; the rest is optional."""

    name = detail_field("name", required=True)
    email = email_field()
    company = detail_field("company")
    address = detail_field("address")
    phone = detail_field("phone")
    fax = detail_field("fax")
    message = TextAreaField(
        _l("Your message"),
        validators=[
            DataRequired(message=_l("Write your message.")),
            Length(min=2, max=5000),
            free_text,
        ],
    )
    subscribe = BooleanField(_l("I would also like to receive newsletters"), default=False)
    topics = MultiCheckboxField(_l("Newsletters"), choices=[], validate_choice=True)
    # Bot trap: hidden from people by CSS, filled in by naive bots.
    website = StringField(_l("Leave this field empty"))
    notice_version = HiddenField()
    altcha = altcha_field()

    def validate_topics(self, field: Field) -> None:
        """The newsletter box and the topic choice go together."""
        if field.data and not self.subscribe.data:
            raise ValidationError(_l("Tick the newsletter box to choose newsletters."))
        if self.subscribe.data and not field.data:
            raise ValidationError(_l("Choose at least one newsletter."))
