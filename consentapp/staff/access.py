"""Role checks for staff views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort
from flask_login import current_user

from consentapp.models import StaffUser

F = TypeVar("F", bound=Callable[..., Any])


def current_staff() -> StaffUser:
    """The logged-in staff member (every staff view runs behind the login check)."""
    user: StaffUser = current_user._get_current_object()
    return user


def admin_required(view: F) -> F:
    """Only admins: others get 403. Marked so a test can list every admin-only page."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated or not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    wrapper.admin_only = True  # type: ignore[attr-defined]
    return cast(F, wrapper)


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
