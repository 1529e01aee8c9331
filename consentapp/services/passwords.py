"""Staff password hashes: argon2id with the parameters config.ARGON2_PROFILE names.

The strong profile is argon2-cffi's default (RFC 9106, low memory); the cheap one
exists for the test suite only and is not read from the environment.
"""

from __future__ import annotations

import functools
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

PASSWORD_PROFILES = {
    "rfc9106-low-memory": profiles.RFC_9106_LOW_MEMORY,
    "cheapest": profiles.CHEAPEST,
}


@functools.cache
def _hasher_for(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(PASSWORD_PROFILES[profile])


def _hasher() -> PasswordHasher:
    return _hasher_for(current_app.config["ARGON2_PROFILE"])


@functools.cache
def _dummy_hash(profile: str) -> str:
    return str(_hasher_for(profile).hash(secrets.token_urlsafe(16)))


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
