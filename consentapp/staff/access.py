"""Helpers for staff views: the logged-in account and the open-redirect guard.

Roles are checked in one place, consentapp/permissions.py.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_login import current_user

from consentapp.models import StaffUser


def current_staff() -> StaffUser:
    """The logged-in staff member (every staff view runs behind the login check)."""
    user: StaffUser = current_user._get_current_object()
    return user


def is_safe_next(target: str | None) -> bool:
    """Only a path inside the staff area: never another site (open-redirect guard)."""
    if not target:
        return False
    parts = urlsplit(target)
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/staff")
        and not target.startswith(("//", "/\\"))
        and "\\" not in target
    )
