"""Cursor pagination: lists answer `next_cursor`, passed back as `?cursor=` for the
next page. Cursors are opaque to callers (what they hold may change)."""

from __future__ import annotations

import base64
import binascii

from consentapp.problems import ApiProblem

VERSION = "c1:"
MAX_POSITION = 2**62


def encode_cursor(position: int | None) -> str | None:
    if position is None:
        return None
    return base64.urlsafe_b64encode(f"{VERSION}{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The position a cursor holds; a cursor we did not make is a 422 on `cursor`."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(VERSION):
            raise ValueError(text)
        position = int(text.removeprefix(VERSION))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        position = -1
    if not 0 < position < MAX_POSITION:
        raise ApiProblem(
            422,
            "This cursor is not one the API gave out.",
            errors=[{"field": "cursor", "message": "unknown cursor"}],
        )
    return position
