"""Requests the fuzz (tests/test_fuzz.py) found answering 500, each pinned as a plain test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from consentapp.extensions import db
from consentapp.models import Contact, Inquiry, Subscription
from tests.helpers import csrf_token

FORMS = {
    "/contact": {"name": "Els", "message": "Een vraag.", "notice_version": "1"},
    "/subscribe": {"topics": "product-updates", "notice_version": "1"},
    "/preferences": {},
    "/my-data": {"kind": "access"},
    "/staff/login": {"password": "not the password"},
}


def stored(app: Flask) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0
            for model in (Contact, Inquiry, Subscription)
        )


def multipart_with_file(fields: dict[str, str], file_field: str) -> tuple[bytes, str]:
    """A multipart body where `file_field` comes as an uploaded file, as a script can send."""
    boundary = "regression"
    parts = []
    for name, value in fields.items():
        filename = f'; filename="{name}.txt"' if name == file_field else ""
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
            f"{value}\r\n"
        )
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("path", sorted(FORMS))
def test_a_text_field_sent_as_a_file_is_a_400_that_keeps_nothing(
    app: Flask, client: FlaskClient, path: str
) -> None:
    """Flask-WTF hands uploaded files to text fields; a length check on a file crashed."""
    fields = {"csrf_token": csrf_token(client, path), "email": "els@example.be", **FORMS[path]}
    body, content_type = multipart_with_file(fields, "email")
    before = stored(app)
    response = client.post(path, data=body, content_type=content_type)
    assert response.status_code == 400
    assert stored(app) == before
