"""Form building blocks shared by every form: validators from the contact-details
checks, a checkbox list, and the HTML attributes fields render with."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from wtforms import Field, SelectMultipleField, widgets
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import Length, ValidationError

from consentapp.models import Topic
from consentapp.services.contact_details import (
    InvalidDetail,
    check_single_line,
    check_text,
    normalise_email,
    normalise_phone,
)


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


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes; none is ticked unless the person ticks it."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def topic_choices(topics: Iterable[Topic], language: str) -> list[Any]:
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
