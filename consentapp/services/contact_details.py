"""Checking and normalising what people type: e-mail addresses, phone numbers, text."""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

DEFAULT_PHONE_REGION = "BE"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029\x85]")


class InvalidDetail(ValueError):
    """A value a person typed that cannot be accepted; `message` says why, translated."""

    def __init__(self, message: LazyString | str) -> None:
        super().__init__(str(message))
        self.message = message


def normalise_email(raw: str) -> str:
    """Validate an address and return the one form we store and compare (lower case)."""
    value = raw.strip()
    if _LINE_BREAK.search(value) or _CONTROL.search(value):
        raise InvalidDetail(_l("An e-mail address cannot contain line breaks or control codes."))
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidDetail(_l("Enter a valid e-mail address, such as name@example.com.")) from exc
    return result.normalized.lower()


def normalise_phone(raw: str, region: str = DEFAULT_PHONE_REGION) -> str:
    """Validate a phone or fax number (Belgian unless it starts with +) as E.164."""
    value = raw.strip()
    if not value:
        return ""
    if _LINE_BREAK.search(value) or _CONTROL.search(value):
        raise InvalidDetail(_l("A phone number cannot contain line breaks or control codes."))
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidDetail(_l("This is not a phone number we can read.")) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidDetail(
            _l("This phone number is not valid. Add the country code if it is not Belgian.")
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_single_line(value: str) -> str:
    """Refuse line breaks and control codes in a value that may reach a mail header."""
    if _LINE_BREAK.search(value) or _CONTROL.search(value):
        raise InvalidDetail(_l("This field must be a single line without control codes."))
    return value.strip()


def check_text(value: str) -> str:
    """Allow line breaks and tabs in free text, but no other control codes (NUL included)."""
    if _CONTROL.search(value):
        raise InvalidDetail(_l("This text contains control codes that cannot be stored."))
    return value.strip()
