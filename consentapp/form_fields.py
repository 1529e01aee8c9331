"""Form building blocks shared by every form: our own wording of the common rules
(required, length, number range), validators from the contact-details checks, a
checkbox list, and the HTML attributes fields render with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, cast

from babel.support import NullTranslations, Translations
from flask import Flask
from flask_babel import format_number, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
    widgets,
)
from wtforms import validators as rules
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.i18n import messages_path
from wtforms.validators import Optional, StopValidation, ValidationError

from consentapp.models import Contact, Topic
from consentapp.request_checks import from_listed_origin
from consentapp.services.contact_details import (
    InvalidDetail,
    check_single_line,
    check_text,
    normalise_email,
    normalise_phone,
)
from consentapp.services.embed import altcha_required, challenge_solved
from consentapp.services.reference import TopicRef

# WTForms' own generic messages (a choice, date or number it cannot read), in our words.
_OUR_WORDS = {
    "Not a valid choice.": _l("Choose one of the options offered."),
    "Invalid Choice: could not coerce.": _l("Choose one of the options offered."),
    "'%(value)s' is not a valid choice for this field.": _l(
        "'%(value)s' is not one of the options offered."
    ),
    "'%(value)s' are not valid choices for this field.": _l(
        "'%(value)s' are not among the options offered."
    ),
    "Not a valid date value.": _l("Enter a valid date."),
    "Not a valid datetime value.": _l("Enter a valid date and time."),
    "Not a valid integer value.": _l("Enter a whole number."),
    "This field is required.": _l("Fill in this field."),
}


@cache
def _wtforms_catalog(locale: str) -> NullTranslations:
    """WTForms' own catalog in `locale`, read once per process (Flask-WTF reads the
    file again for every request that builds a form)."""
    return Translations.load(messages_path(), [locale], domain="wtforms")


def _catalog() -> NullTranslations:
    return _wtforms_catalog(str(get_locale() or "en"))


class _OurWords:
    """The translations object forms use: our words first, else WTForms' catalog."""

    def gettext(self, string: str) -> str:
        ours = _OUR_WORDS.get(string)
        return str(ours) if ours is not None else str(_catalog().ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        ours = _OUR_WORDS.get(singular if n == 1 else plural)
        if ours is not None:
            return str(ours)
        return str(_catalog().ungettext(singular, plural, n))


OUR_WORDS = _OurWords()


class Form(FlaskForm):  # type: ignore[misc]  # Flask-WTF has no types
    """The base of our forms: WTForms' generic messages said in our words."""

    class Meta(FlaskForm.Meta):  # type: ignore[misc]
        def get_translations(self, form: Any) -> _OurWords:
            return OUR_WORDS


def _missing(field: Field) -> str:
    """What to say next to a required field left empty (the summary adds its label)."""
    if isinstance(field, SelectMultipleField):
        return str(_("Choose at least one option."))
    if field.type in ("DateField", "DateTimeLocalField", "DateTimeField"):
        return str(_("Enter a date."))
    if field.type == "FileField":
        return str(_("Choose a file."))
    return str(_("Fill in this field."))


class DataRequired(rules.DataRequired):
    """Required, and not only spaces; says which field (or `message`) when empty."""

    def __call__(self, form: Any, field: Field) -> None:
        if field.data and (not isinstance(field.data, str) or field.data.strip()):
            return
        cast(list[str], field.errors).clear()
        raise StopValidation(str(self.message) if self.message else _missing(field))


class InputRequired(rules.InputRequired):
    """Required (any input counts); says which field (or `message`) when empty."""

    def __call__(self, form: Any, field: Field) -> None:
        if field.raw_data and field.raw_data[0]:
            return
        cast(list[str], field.errors).clear()
        raise StopValidation(str(self.message) if self.message else _missing(field))


class Length(rules.Length):
    """A length rule that says the limit and how long the text is now."""

    def __call__(self, form: Any, field: Field) -> None:
        length = len(field.data) if field.data else 0
        if length >= self.min and (self.max == -1 or length <= self.max):
            return
        if self.message:
            raise ValidationError(str(self.message))
        if self.max != -1 and length > self.max:
            raise ValidationError(
                _(
                    "Write at most %(max)s characters (now %(length)s).",
                    max=format_number(self.max),
                    length=format_number(length),
                )
            )
        raise ValidationError(
            _(
                "Write at least %(min)s characters (now %(length)s).",
                min=format_number(self.min),
                length=format_number(length),
            )
        )


class NumberRange(rules.NumberRange):
    """A number range rule in our words."""

    def __call__(self, form: Any, field: Field) -> None:
        data = field.data
        low, high = self.min, self.max
        if data is not None and (low is None or data >= low) and (high is None or data <= high):
            return
        if self.message:
            raise ValidationError(str(self.message))
        if low is not None and high is not None:
            message = _(
                "Enter a number from %(min)s to %(max)s.",
                min=format_number(low),
                max=format_number(high),
            )
        elif low is not None:
            message = _("Enter a number of at least %(min)s.", min=format_number(low))
        else:
            message = _("Enter a number of at most %(max)s.", max=format_number(high))
        raise ValidationError(message)


def checked_by(check: Callable[[str], str]) -> Callable[[Any, Field], None]:
    """Turn a contact-details check into a WTForms validator."""

    def validator(form: Any, field: Field) -> None:
        if not field.data:
            return
        try:
            check(field.data)
        except InvalidDetail as exc:
            raise ValidationError(str(exc.message)) from exc

    return validator


single_line = checked_by(check_single_line)
free_text = checked_by(check_text)
valid_email = checked_by(normalise_email)
valid_phone = checked_by(normalise_phone)


def proof_of_work(form: Any, field: Field) -> None:
    """ALTCHA, once staff switch it on: a post from the company's own site (which carries
    no CSRF token of ours) must bring a solved challenge. Our own pages need none."""
    if not from_listed_origin() or not altcha_required():
        return
    if not challenge_solved(field.data):
        raise ValidationError(_l("Confirm that you are not a robot, then send the form again."))


def altcha_field() -> Any:
    """The hidden field the ALTCHA widget fills with its solution."""
    return HiddenField(validators=[proof_of_work])


def email_field(label: Any = None, required: bool = True, check: bool = True) -> Any:
    """The e-mail field every form asks with: the column's length, and the address
    check unless `check` is False (the login form must not say which addresses exist)."""
    validators: list[Any] = [
        InputRequired(_l("Enter an e-mail address.")) if required else Optional()
    ]
    validators.append(Length(max=Contact.EMAIL_LENGTH))
    if check:
        validators.append(valid_email)
    return EmailField(_l("E-mail address") if label is None else label, validators=validators)


_DETAIL_LABELS = {
    "name": _l("Name"),
    "company": _l("Company or office"),
    "address": _l("Address"),
    "phone": _l("Phone"),
    "fax": _l("Fax"),
}
_REQUIRED_WORDS = {"name": _l("Enter a name.")}
_DETAIL_KINDS: dict[str, tuple[type[Field], Callable[[Any, Field], None]]] = {
    "name": (StringField, single_line),
    "company": (StringField, single_line),
    "address": (TextAreaField, free_text),
    "phone": (TelField, valid_phone),
    "fax": (TelField, valid_phone),
}


def detail_field(name: str, required: bool = False) -> Any:
    """One of `Contact.DETAIL_FIELDS` as a form field, as long as its column allows."""
    kind, check = _DETAIL_KINDS[name]
    presence = DataRequired(_REQUIRED_WORDS.get(name)) if required else Optional()
    return kind(
        _DETAIL_LABELS[name],
        validators=[presence, Length(max=Contact.DETAIL_LENGTHS[name]), check],
    )


def statistics_field() -> Any:
    """The `statistics` checkbox: personal newsletter statistics, never pre-ticked."""
    return BooleanField(
        _l("Record which links I click in the newsletters"),
        default=False,
    )


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes; none is ticked unless the person ticks it."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def topic_choices(topics: Iterable[Topic | TopicRef], language: str) -> list[Any]:
    """Checkbox choices for topics, labelled in `language`."""
    return [SelectChoice(topic.slug, topic.label(language)) for topic in topics]


def choices(pairs: Iterable[tuple[str, Any]]) -> list[Any]:
    """Select choices from (value, label) pairs; labels may be lazy strings."""
    return [SelectChoice(value, str(label)) for value, label in pairs]


def language_choices() -> list[Any]:
    """The languages mails can be sent in, each named in itself."""
    return [SelectChoice("nl", "Nederlands"), SelectChoice("en", "English")]


def field_attrs(field: Field, hint: bool = False, **extra: Any) -> dict[str, Any]:
    """HTML attributes for a field: maxlength from its Length rule, ARIA links to
    its hint and errors; `extra` values that are None are left out."""
    attrs = {name: value for name, value in extra.items() if value is not None}
    validators: list[object] = list(field.validators)
    for validator in validators:
        if isinstance(validator, Length) and validator.max not in (None, -1):
            attrs["maxlength"] = validator.max
    described = []
    if hint:
        described.append(f"{field.id}-hint")
    if field.errors:
        described.append(f"{field.id}-errors")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return attrs


def init_app(app: Flask) -> None:
    """Make `field_attrs` available to templates."""
    app.jinja_env.globals["field_attrs"] = field_attrs
