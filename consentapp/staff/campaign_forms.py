"""Forms of the campaign pages: writing a newsletter, and when to send it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Optional, ValidationError

from consentapp.form_fields import (
    DataRequired,
    Form,
    InputRequired,
    Length,
    MultiCheckboxField,
    NumberRange,
    choices,
    language_choices,
    single_line,
)


class CampaignForm(Form):
    """A newsletter in both languages (Markdown)."""

    topic = SelectField(_l("Newsletter"), choices=[])
    # The audience: the union with other newsletters' subscribers, narrowed at will.
    more_topics = MultiCheckboxField(_l("Also to the subscribers of"), choices=[])
    audience_language = SelectField(_l("Subscribers' language"), choices=[], default="")
    customers_only = BooleanField(_l("Only customers (invoiced, or under a signed agreement)"))
    subject_nl = StringField(
        _l("Subject (Dutch)"), validators=[DataRequired(), Length(max=200), single_line]
    )
    body_nl = TextAreaField(
        _l("Text (Dutch, Markdown)"), validators=[DataRequired(), Length(max=100_000)]
    )
    subject_en = StringField(
        _l("Subject (English)"), validators=[Optional(), Length(max=200), single_line]
    )
    body_en = TextAreaField(
        _l("Text (English, Markdown)"), validators=[Optional(), Length(max=100_000)]
    )


def audience_languages() -> list[Any]:
    """The language choice of a campaign's audience: everyone, or one language."""
    return choices([("", _("Every language"))]) + language_choices()


def local_to_utc(moment: datetime, zone_name: str) -> datetime:
    """A wall-clock time in `zone_name` as an aware UTC time. A time the clocks skip
    (spring forward) or pass twice (fall back) is refused with a message saying so:
    guessing would send an hour early or late."""
    zone = ZoneInfo(zone_name)
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        shown = moment.strftime("%Y-%m-%d %H:%M")
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
            raise ValueError(
                _(
                    "%(time)s does not exist in %(zone)s: the clocks go forward that night."
                    " Choose a time after the change.",
                    time=shown,
                    zone=zone_name,
                )
            )
        raise ValueError(
            _(
                "%(time)s happens twice in %(zone)s: the clocks go back that night."
                " Choose a time outside that hour.",
                time=shown,
                zone=zone_name,
            )
        )
    return first.astimezone(UTC)


class ScheduleForm(Form):
    """Send now, or at a time given in the company's time zone (`TIMEZONE`)."""

    at = DateTimeLocalField(validators=[Optional()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = str(current_app.config["TIMEZONE"])
        self.at.label.text = _("Send at (time in %(zone)s)", zone=self.zone)
        self.at_utc: datetime | None = None

    def validate_at(self, field: DateTimeLocalField) -> None:
        """The entered local time as UTC in `at_utc`."""
        if field.data is None:
            return
        try:
            self.at_utc = local_to_utc(field.data, self.zone)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


RULES = (
    ("confirmed_before", _l("Subscribers who confirmed more than a number of months ago")),
    ("notice_before", _l("Subscribers who never confirmed under a notice version")),
)


class RepermissionForm(Form):
    """Who a re-permission round asks, about what, and for how long."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rule.choices = choices(RULES)

    rule = RadioField(
        _l("Who is asked"),
        choices=[],  # RULES, named in the page's language when the form is made
        default="confirmed_before",
        validators=[InputRequired()],
    )
    months = IntegerField(
        _l("Confirmed more than this many months ago"),
        default=24,
        validators=[Optional(), NumberRange(min=1, max=240)],
    )
    notice_version = IntegerField(
        _l("Never confirmed under this notice version or a later one"),
        validators=[Optional(), NumberRange(min=2, max=100_000)],
    )
    topics = MultiCheckboxField(_l("About these newsletters"), choices=[])
    days = IntegerField(
        _l("Days to answer"),
        default=30,
        validators=[InputRequired(), NumberRange(min=7, max=365)],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        """The number the chosen rule needs is required (the other one is not)."""
        super().validate(extra_validators)
        by_age = self.rule.data == "confirmed_before"
        needed, unused = (
            (self.months, self.notice_version) if by_age else (self.notice_version, self.months)
        )
        unused.errors, unused.data = [], None  # the other rule's number plays no part
        if needed.data is None and not needed.errors:
            message = _("Give the number of months.") if by_age else _("Give the notice version.")
            needed.errors = [message]
        return not any(field.errors for field in self)
