"""Configuration profiles: production fails closed, development keeps its own secret."""

from __future__ import annotations

import logging
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from consentapp import create_app
from consentapp.config import (
    KNOWN_DEFAULT_SECRETS,
    TESTING_SECRET_KEY,
    ConfigError,
    load_config,
    normalise_database_url,
    secret_key_problem,
)

# Made at run time: a key written in the repository would be refused (see below).
GOOD_SECRET = secrets.token_urlsafe(48)
REPOSITORY = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("secret", [None, "", "changeme", "dev", "secret", "short-but-unique"])
def test_production_refuses_a_missing_or_weak_secret(secret: str | None, tmp_path: Path) -> None:
    environ = {"CONSENTAPP_INSTANCE": str(tmp_path)}
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config("production", environ)


def production_environ(tmp_path: Path, **values: str) -> dict[str, str]:
    """A production environment that passes validation, with `values` changed."""
    return {
        "SECRET_KEY": GOOD_SECRET,
        "CONSENTAPP_INSTANCE": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "BASE_URL": "https://crm.example",
        "RATELIMIT_STORAGE_URI": "redis://localhost:6379/0",
    } | values


@pytest.mark.parametrize(
    ("fallbacks", "bad_entries"),
    [
        ("dev,changeme", [1, 2]),
        (f"{secrets.token_urlsafe(48)},dev", [2]),
        (TESTING_SECRET_KEY, [1]),
        ("too-short-to-be-random", [1]),
        ("k" * 48, [1]),
    ],
    ids=["two-defaults", "random-then-default", "test-key", "short", "not-random"],
)
def test_production_refuses_weak_fallback_keys_and_names_each(
    fallbacks: str, bad_entries: list[int], tmp_path: Path
) -> None:
    """An old key still verifies sessions and links: it gets the checks SECRET_KEY gets."""
    with pytest.raises(ConfigError) as refused:
        load_config("production", production_environ(tmp_path, SECRET_KEY_FALLBACKS=fallbacks))
    message = str(refused.value)
    named = [int(n) for n in re.findall(r"SECRET_KEY_FALLBACKS entry #(\d+)", message)]
    assert named == bad_entries
    assert "SECRET_KEY " not in message.replace("SECRET_KEY_FALLBACKS", "")
    for key in fallbacks.split(","):
        if len(key) > 8:
            assert key not in message, "the message never shows a key"


def test_production_accepts_random_fallback_keys(tmp_path: Path) -> None:
    old = [secrets.token_urlsafe(48), secrets.token_hex(32)]
    environ = production_environ(tmp_path, SECRET_KEY_FALLBACKS=",".join(old))
    accepted = load_config("production", environ).SECRET_KEY_FALLBACKS
    assert accepted == old


def test_the_test_suites_own_key_is_refused_in_production(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is a known default") as refused:
        load_config("production", production_environ(tmp_path, SECRET_KEY=TESTING_SECRET_KEY))
    assert TESTING_SECRET_KEY not in str(refused.value)


def test_a_key_of_few_different_characters_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY has fewer than 10 different characters"):
        load_config("production", production_environ(tmp_path, SECRET_KEY="ab" * 30))


# A value given to SECRET_KEY or SECRET_KEY_FALLBACKS: `SECRET_KEY=...` (shell, .env),
# `"SECRET_KEY": "..."` (Python, JSON, YAML); and any quoted literal that names itself a
# secret or key, as test keys do. Keys are made of these characters; code such as
# `$(...)` or an f-string's `{...}` is not a key.
KEY = r"[\w\-+/=.~:!@#%^&*,]+"
ASSIGNED_KEY = re.compile(
    rf"""SECRET_KEY(?:_FALLBACKS)?(?:=({KEY})(?![^\s`'"])|["']?\s*[:=]\s*["']({KEY})["'])"""
)
# Quoted as code quotes values; Markdown's backticks mark names (of tests, settings).
KEY_LIKE_LITERAL = re.compile(rf"""(["'])({KEY})\1""")


def repository_texts() -> list[tuple[str, str]]:
    """(path, text) of every text file the repository tracks."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=False
    )
    if listed.returncode == 0:
        paths = [REPOSITORY / name for name in listed.stdout.decode().split("\0") if name]
    else:  # not a git checkout (an unpacked source archive): every file but the venv
        skip = {".git", ".venv", "instance", "__pycache__", "node_modules"}
        paths = [p for p in REPOSITORY.rglob("*") if p.is_file() and not skip & set(p.parts)]
    texts = []
    for path in paths:
        try:
            texts.append((str(path.relative_to(REPOSITORY)), path.read_text("utf-8")))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


def keys_in_repository() -> dict[str, str]:
    """Every SECRET_KEY-like literal in the repository, with where it was found."""
    found: dict[str, str] = {}
    for path, text in repository_texts():
        for number, line in enumerate(text.splitlines(), start=1):
            for match in ASSIGNED_KEY.finditer(line):
                for key in (match.group(1) or match.group(2)).split(","):
                    found.setdefault(key.strip(), f"{path}:{number}")
            for match in KEY_LIKE_LITERAL.finditer(line):
                literal = match.group(2)
                if len(literal) >= 16 and re.search("secret|key", literal, re.IGNORECASE):
                    found.setdefault(literal, f"{path}:{number}")
    return found


def test_every_key_written_in_the_repository_is_refused_in_production() -> None:
    """A key anyone can read signs nothing: add a new one to KNOWN_DEFAULT_SECRETS."""
    found = keys_in_repository()
    assert TESTING_SECRET_KEY in found, "the search finds the keys it should"
    accepted = {key: where for key, where in found.items() if secret_key_problem(key) is None}
    assert accepted == {}, "add these to KNOWN_DEFAULT_SECRETS in consentapp/config.py"


@pytest.mark.parametrize("key", sorted(KNOWN_DEFAULT_SECRETS))
def test_every_known_default_is_refused_as_fallback(key: str, tmp_path: Path) -> None:
    environ = production_environ(tmp_path, SECRET_KEY_FALLBACKS=f"{GOOD_SECRET},{key} ")
    if not key:
        environ["SECRET_KEY"] = key
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config("production", environ)


def test_production_is_the_default_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(None, {"CONSENTAPP_INSTANCE": str(tmp_path)})


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match="CONSENTAPP_ENV"):
        load_config(None, {"CONSENTAPP_ENV": "staging"})


def test_production_with_a_real_secret_sets_secure_cookies_and_hsts(tmp_path: Path) -> None:
    app = create_app(load_config("production", production_environ(tmp_path)))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie_page = app.test_client().get("/healthz?lang=en")
    assert "Secure" in cookie_page.headers["Set-Cookie"]


def test_production_on_plain_http_sends_cookies_the_browser_keeps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A Secure cookie is dropped over http://: every form would fail as expired."""
    with caplog.at_level(logging.WARNING, logger="consentapp.config"):
        config = load_config("production", production_environ(tmp_path, BASE_URL="http://crm"))
    app = create_app(config)
    assert app.config["SESSION_COOKIE_SECURE"] is False
    cookie_page = app.test_client().get("/healthz?lang=en")
    assert "consentapp_session=" in cookie_page.headers["Set-Cookie"]
    assert "Secure" not in cookie_page.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in cookie_page.headers
    warnings = [r.getMessage() for r in caplog.records if r.name == "consentapp.config"]
    assert len(warnings) == 1 and "BASE_URL is http://crm, not https://" in warnings[0]


def test_production_over_https_with_a_shared_rate_limit_store_starts_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="consentapp.config"):
        load_config("production", production_environ(tmp_path))
    assert [r for r in caplog.records if r.name == "consentapp.config"] == []


@pytest.mark.parametrize(
    ("worker_setting", "expected"),
    [
        ({}, "with several gunicorn workers or machines each limit is multiplied"),
        ({"WEB_CONCURRENCY": "4"}, "with the 4 gunicorn workers configured"),
        ({"GUNICORN_CMD_ARGS": "--bind 0.0.0.0:8000 -w 3"}, "the 3 gunicorn workers"),
        ({"GUNICORN_CMD_ARGS": "--workers=5", "WEB_CONCURRENCY": "2"}, "the 5 gunicorn"),
    ],
    ids=["unknown-count", "web-concurrency", "gunicorn-w", "gunicorn-workers-first"],
)
def test_production_warns_that_in_memory_rate_limits_multiply_with_workers(
    worker_setting: dict[str, str], expected: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = production_environ(tmp_path, RATELIMIT_STORAGE_URI="memory://", **worker_setting)
    with caplog.at_level(logging.WARNING, logger="consentapp.config"):
        load_config("production", environ)
    warnings = [r.getMessage() for r in caplog.records if r.name == "consentapp.config"]
    assert len(warnings) == 1
    assert "RATELIMIT_STORAGE_URI is memory://" in warnings[0] and expected in warnings[0]


def test_development_on_memory_rate_limits_is_not_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="consentapp.config"):
        load_config("development", {"CONSENTAPP_INSTANCE": str(tmp_path)})
    assert [r for r in caplog.records if r.name == "consentapp.config"] == []


def test_development_keeps_one_generated_secret(tmp_path: Path) -> None:
    first = load_config("development", {"CONSENTAPP_INSTANCE": str(tmp_path)})
    second = load_config("development", {"CONSENTAPP_INSTANCE": str(tmp_path)})
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY == second.SECRET_KEY
    assert (tmp_path / "dev-secret-key").stat().st_mode & 0o077 == 0


def test_defaults_follow_the_contract(tmp_path: Path) -> None:
    config = load_config("development", {"CONSENTAPP_INSTANCE": str(tmp_path)})
    assert f"sqlite:///{tmp_path / 'consentapp.sqlite3'}" == config.SQLALCHEMY_DATABASE_URI
    assert config.CELERY_BROKER_URL is None
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.STAFF_NOTIFY_EMAIL == config.ORG_EMAIL
    assert (config.MAIL_SERVER, config.MAIL_PORT) == ("127.0.0.1", 8025)


def test_environment_values_are_read(tmp_path: Path) -> None:
    config = load_config(
        "development",
        {
            "CONSENTAPP_INSTANCE": str(tmp_path),
            "SECRET_KEY_FALLBACKS": "old-key-one, old-key-two",
            "MAIL_PORT": "2525",
            "MAIL_USE_TLS": "true",
            "ORG_NAME": "ACME",
            "TRUSTED_PROXY_COUNT": "1",
        },
    )
    assert config.SECRET_KEY_FALLBACKS == ["old-key-one", "old-key-two"]
    assert config.MAIL_PORT == 2525 and config.MAIL_USE_TLS is True
    assert config.MAIL_DEFAULT_SENDER == "ACME <privacy@example.com>"
    assert config.TRUSTED_PROXY_COUNT == 1


def test_non_numeric_setting_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MAIL_PORT"):
        load_config("development", {"CONSENTAPP_INSTANCE": str(tmp_path), "MAIL_PORT": "smtp"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_use_psycopg(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_trusted_proxy_makes_forwarded_address_the_client(tmp_path: Path) -> None:
    config = load_config(
        "testing",
        {
            "CONSENTAPP_INSTANCE": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "TRUSTED_PROXY_COUNT": "1",
        },
    )
    app = create_app(config)

    @app.get("/whoami")
    def whoami() -> str:
        from flask import request

        return request.remote_addr or ""

    response = app.test_client().get(
        "/whoami",
        headers={"X-Forwarded-For": "203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert response.get_data(as_text=True) == "203.0.113.9"


def test_public_ids_start_with_a_letter_or_digit() -> None:
    from consentapp.models import new_public_id

    ids = [new_public_id() for _ in range(3000)]
    assert all(value[0].isalnum() for value in ids)
    assert len(set(ids)) == len(ids) and all(len(value) == 22 for value in ids)


@pytest.mark.parametrize("profile", ["production", "development"])
def test_staff_passwords_are_hashed_with_the_strong_argon2_parameters(
    profile: str, tmp_path: Path
) -> None:
    """Only the test suite hashes cheaply; the environment cannot ask for it."""
    from argon2 import PasswordHasher

    from consentapp.services.passwords import make_hash

    environ = {
        "CONSENTAPP_INSTANCE": str(tmp_path),
        "SECRET_KEY": GOOD_SECRET,
        "ARGON2_PROFILE": "cheapest",
    }
    app = create_app(load_config(profile, environ))
    strong = PasswordHasher()
    with app.app_context():
        made = make_hash("a long enough password")
    assert made.startswith(f"$argon2id$v=19$m={strong.memory_cost},t={strong.time_cost},")
    assert strong.memory_cost >= 65536
