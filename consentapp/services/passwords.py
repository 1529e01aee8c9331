"""Staff password hashes: argon2id with the parameters config.ARGON2_PROFILE names.

"default" is argon2-cffi's own default (RFC 9106, low memory, today), so hashes follow
the library when it raises its parameters and old ones are rehashed at the next
login; "cheapest" exists for the test suite only and is not read from the environment.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

PASSWORD_PROFILES = {"default": None, "cheapest": profiles.CHEAPEST}


@functools.cache
def _hasher_for(profile: str) -> PasswordHasher:
    parameters = PASSWORD_PROFILES[profile]
    return PasswordHasher() if parameters is None else PasswordHasher.from_parameters(parameters)


def _hasher() -> PasswordHasher:
    return _hasher_for(current_app.config["ARGON2_PROFILE"])


@functools.cache
def _dummy_hash(profile: str) -> str:
    return str(_hasher_for(profile).hash(secrets.token_urlsafe(16)))


def warm_up(profile: str) -> None:
    """Make the dummy hash when the app starts, so the first login for an unknown
    address takes no longer than later ones."""
    _dummy_hash(profile)


def make_hash(password: str) -> str:
    """A new argon2id hash of `password`."""
    return str(_hasher().hash(password))


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (an unknown address) a dummy one is
    verified instead, so both cases take as long."""
    target = password_hash or _dummy_hash(current_app.config["ARGON2_PROFILE"])
    try:
        matched = bool(_hasher().verify(target, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return matched and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than today's."""
    return bool(_hasher().check_needs_rehash(password_hash))
