"""Forms of the staff area."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, EqualTo, Optional

from consentapp.form_fields import (
    DataRequired,
    Form,
    InputRequired,
    Length,
    MultiCheckboxField,
    NumberRange,
    choices,
    detail_field,
    email_field,
    free_text,
    language_choices,
    single_line,
)
from consentapp.models import ApiScope
from consentapp.services.api_tokens import MAX_EXPIRES_DAYS
from consentapp.services.outgoing_webhooks import EVENTS


class LoginForm(Form):
    """E-mail and password; the second factor comes on the next page."""

    email = email_field(check=False)
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=256)])
    next = HiddenField()


class TotpForm(Form):
    """The six-digit code from an authenticator app."""

    code = StringField(_l("Code from your app"), validators=[InputRequired(), Length(max=12)])


class ButtonForm(Form):
    """A single button: only the CSRF token."""


class PasswordChangeForm(Form):
    """A new password for one's own account."""

    current = PasswordField(_l("Current password"), validators=[InputRequired()])
    password = PasswordField(
        _l("New password"), validators=[InputRequired(), Length(min=12, max=256)]
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[InputRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class StaffCreateForm(Form):
    """A new account; leave the password empty to have one generated."""

    email = email_field()
    name = detail_field("name")
    role = SelectField(_l("Role"), choices=[])
    password = PasswordField(
        _l("Password (leave empty to generate one)"),
        validators=[Optional(), Length(min=12, max=256)],
    )


class RoleForm(Form):
    """Change an account's role."""

    role = SelectField(_l("Role"), choices=[])


class SettingsForm(Form):
    """Run-time settings."""

    require_admin_totp = BooleanField(_l("Admins must use a second factor (TOTP)"))
    require_altcha = BooleanField(
        _l("Forms on the company's site must solve a proof-of-work check (ALTCHA)")
    )


class ContactEditForm(Form):
    """A rectification by staff: the fields and the reason for the change."""

    email = email_field()
    name = detail_field("name")
    company = detail_field("company")
    address = detail_field("address")
    phone = detail_field("phone")
    fax = detail_field("fax")
    language = SelectField(_l("Language"), choices=language_choices())
    last_invoice_on = DateField(
        _l("Last invoice (accounting law keeps invoicing data 10 years after it)"),
        validators=[Optional()],
    )
    reason = StringField(
        _l("Reason for the change"), validators=[DataRequired(), Length(max=300), single_line]
    )


class ClearUndeliverableForm(Form):
    """Mail this address again: why staff believe the mailbox works now."""

    reason = StringField(
        _l("Why the address works again"),
        validators=[DataRequired(), Length(max=300), single_line],
    )


OFFLINE_CHANNELS = [
    ("agreement", _l("Signed agreement")),
    ("email", _l("E-mail")),
    ("phone", _l("Phone")),
]


class OfflineConsentForm(Form):
    """A contact or consent that reached us by agreement, e-mail or phone (P1)."""

    email = email_field()
    name = detail_field("name")
    company = detail_field("company")
    phone = detail_field("phone")
    language = SelectField(_l("Language"), choices=language_choices())
    channel = SelectField(_l("How did it reach us?"), choices=[])
    obtained_on = DateField(_l("Date obtained"), validators=[InputRequired()])
    evidence = StringField(
        _l("Evidence reference"),
        validators=[DataRequired(), Length(max=300), single_line],
    )
    topics = MultiCheckboxField(_l("Newsletters"), choices=[], validate_choice=True)
    send_confirmation = BooleanField(_l("Send the double opt-in confirmation mail"), default=True)
    agreement_covers_newsletters = BooleanField(
        _l("The signed agreement itself contains the newsletter consent")
    )


class InquiryUpdateForm(Form):
    """Status and assignment of an inquiry."""

    status = SelectField(_l("Status"), choices=[])
    assigned_to = SelectField(_l("Assigned to"), choices=[])


class NoteForm(Form):
    """An internal note."""

    text = TextAreaField(
        _l("Note"),
        validators=[DataRequired(message=_l("Write a note.")), Length(max=5000), free_text],
    )


class ApplyDetailsForm(Form):
    """Copy chosen submitted details onto the contact."""

    fields = MultiCheckboxField(_l("Fields to copy"), choices=[], validate_choice=True)
    reason = StringField(
        _l("Reason for the change"), validators=[DataRequired(), Length(max=300), single_line]
    )


class ExportForm(Form):
    """Which fields to export (only what is needed, P3) and for whom."""

    fields = MultiCheckboxField(
        _l("Fields"), choices=[], validate_choice=True, validators=[InputRequired()]
    )
    topic = SelectField(_l("Newsletter"), choices=[])
    status = SelectField(_l("Subscription status"), choices=[])
    purpose = StringField(
        _l("Purpose of the export"), validators=[DataRequired(), Length(max=300), single_line]
    )


class ImportUploadForm(Form):
    """Step 1 of an import: the CSV file."""

    file = FileField(
        _l("CSV file (UTF-8)"), validators=[FileRequired(message=_l("Choose a CSV file."))]
    )


class ImportMappingForm(Form):
    """Step 2 of an import: which column holds what, and the consent it rests on."""

    upload = HiddenField(validators=[InputRequired()])
    email = SelectField(_l("E-mail address"), choices=[])
    name = SelectField(_l("Name"), choices=[])
    company = SelectField(_l("Company or office"), choices=[])
    address = SelectField(_l("Address"), choices=[])
    phone = SelectField(_l("Phone"), choices=[])
    fax = SelectField(_l("Fax"), choices=[])
    language = SelectField(_l("Language"), choices=[])
    channel_column = SelectField(_l("Consent channel (column)"), choices=[])
    channel = SelectField(_l("Consent channel (for every row)"), choices=[])
    evidence_column = SelectField(_l("Evidence (column)"), choices=[])
    evidence = StringField(
        _l("Evidence (for every row)"), validators=[Optional(), Length(max=300), single_line]
    )
    topics = MultiCheckboxField(_l("Newsletters to request"), choices=[], validate_choice=True)
    send_confirmation = BooleanField(_l("Send the double opt-in confirmation mail"), default=True)
    agreement_covers_newsletters = BooleanField(
        _l("Rows whose channel is a signed agreement: it contains the newsletter consent")
    )


class RequestLogForm(Form):
    """A request that came by e-mail, phone or letter (P12)."""

    kind = SelectField(_l("Request"), choices=[])
    channel = SelectField(_l("Came by"), choices=[])
    email = email_field(_l("E-mail address it concerns"))
    language = SelectField(_l("Language for our answer"), choices=language_choices())
    verification = StringField(
        _l("How the identity was checked"),
        validators=[Optional(), Length(max=250), single_line],
    )


class VerifyForm(Form):
    """A staff identity check (P13)."""

    verification = StringField(
        _l("How the identity was checked"),
        validators=[DataRequired(), Length(max=250), single_line],
    )


class ExtendForm(Form):
    """Art. 12(3): one or two more months, with a reason."""

    months = SelectField(_l("Extend by"), choices=[])
    reason = StringField(
        _l("Reason for the extension"), validators=[DataRequired(), Length(max=500), single_line]
    )


class CompleteForm(Form):
    """What staff did to handle a request by hand."""

    outcome = StringField(
        _l("What was done"), validators=[DataRequired(), Length(max=1000), single_line]
    )


class DenyForm(Form):
    """A refusal with its reasons."""

    reason = TextAreaField(
        _l("Reasons (sent to the person)"), validators=[DataRequired(), Length(max=1000), free_text]
    )


class DisclosureForm(Form):
    """A sharing with a partner or an authority (P3, P4)."""

    kind = SelectField(_l("Recipient is"), choices=[])
    recipient = StringField(
        _l("Recipient"), validators=[DataRequired(), Length(max=300), single_line]
    )
    legal_basis = StringField(
        _l("Legal basis or reason"), validators=[DataRequired(), Length(max=500), single_line]
    )
    reference = StringField(
        _l("Reference (case or request number)"),
        validators=[Optional(), Length(max=200), single_line],
    )
    categories = MultiCheckboxField(
        _l("Data disclosed"), choices=[], validate_choice=True, validators=[InputRequired()]
    )
    addresses = TextAreaField(
        _l("E-mail addresses of the people concerned (one per line)"),
        validators=[DataRequired(), Length(max=20000)],
    )
    disclosed_on = DateField(_l("Date"), validators=[InputRequired()])
    withhold_reason = StringField(
        _l(
            "Only if a legal basis forbids telling the people concerned: which one "
            "(it is then left out of their access copy)"
        ),
        validators=[Optional(), Length(max=1000), single_line],
    )


class WithholdForm(Form):
    """An admin keeps a disclosure out of the people's access copy."""

    reason = StringField(
        _l("Legal basis that forbids telling the people concerned"),
        validators=[DataRequired(), Length(max=1000), single_line],
    )


class ActivityForm(Form):
    """One entry of the record of processing activities."""

    name = StringField(_l("Activity"), validators=[DataRequired(), Length(max=200), single_line])
    purposes = TextAreaField(_l("Purposes"), validators=[DataRequired(), Length(max=5000)])
    bases = MultiCheckboxField(
        _l("Legal bases (GDPR art. 6)"),
        validators=[DataRequired(_l("Choose at least one legal basis."))],
    )
    legal_basis = TextAreaField(
        _l("Legal basis, explained"), validators=[Optional(), Length(max=5000)]
    )
    data_categories = TextAreaField(
        _l("Categories of data"), validators=[DataRequired(), Length(max=5000)]
    )
    subject_categories = TextAreaField(
        _l("Categories of people"), validators=[DataRequired(), Length(max=5000)]
    )
    recipient_kinds = MultiCheckboxField(_l("Recipients by category"))
    recipients = TextAreaField(_l("Recipients"), validators=[DataRequired(), Length(max=5000)])
    outside_eea = BooleanField(_l("Data leaves the European Economic Area"))
    transfers = TextAreaField(
        _l("Transfers outside the EEA"), validators=[DataRequired(), Length(max=5000)]
    )
    retention = TextAreaField(_l("Retention"), validators=[DataRequired(), Length(max=5000)])
    security = TextAreaField(_l("Security measures"), validators=[DataRequired(), Length(max=5000)])


class NoticeForm(Form):
    """A new version of the privacy notice, in both languages (Markdown, # Title first)."""

    text_nl = TextAreaField(_l("Dutch text"), validators=[DataRequired(), Length(max=100_000)])
    text_en = TextAreaField(_l("English text"), validators=[DataRequired(), Length(max=100_000)])
    purposes_changed = BooleanField(
        _l("The purposes changed: subscribers should be asked whether they still agree")
    )


class WebhookForm(Form):
    """An endpoint (new or edited): its URL, the events it wants, and whether it gets
    personal fields."""

    url = StringField(_l("URL"), validators=[DataRequired(), Length(max=2000)])
    events = MultiCheckboxField(
        _l("Events"),
        choices=choices((event, event) for event in EVENTS),
        validators=[DataRequired()],
    )
    personal = BooleanField(_l("Include e-mail address and name"))


class SendAgainForm(Form):
    """The "send again" button: only the CSRF token."""


class ApiTokenForm(Form):
    """A new API token: what it is for, what it may do, and when it stops working."""

    name = StringField(
        _l("What it is for"), validators=[DataRequired(), Length(max=100), single_line]
    )
    scopes = MultiCheckboxField(
        _l("Scopes"),
        choices=choices((scope.value, scope.value) for scope in ApiScope),
        validators=[DataRequired(message=_l("Tick at least one scope."))],
    )
    expires_days = IntegerField(
        _l("Expires after (days)"),
        validators=[Optional(), NumberRange(min=1, max=MAX_EXPIRES_DAYS)],
    )


class WebhookSwitchForm(Form):
    """Switch an endpoint on or off: the state it should be in after the click."""

    state = HiddenField(validators=[AnyOf(["on", "off"])])
