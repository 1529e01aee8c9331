"""Configuration profiles: production fails closed, development keeps its own secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentapp import create_app
from consentapp.config import ConfigError, load_config, normalise_database_url

GOOD_SECRET = "k" * 48


@pytest.mark.parametrize("secret", [None, "", "changeme", "dev", "secret", "short-but-unique"])
def test_production_refuses_a_missing_or_weak_secret(secret: str | None, tmp_path: Path) -> None:
    environ = {"CONSENTAPP_INSTANCE": str(tmp_path)}
    if secret is not None:
        environ["SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config("production", environ)


def test_production_is_the_default_profile(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(None, {"CONSENTAPP_INSTANCE": str(tmp_path)})


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ConfigError, match="CONSENTAPP_ENV"):
        load_config(None, {"CONSENTAPP_ENV": "staging"})


def test_production_with_a_real_secret_sets_secure_cookies_and_hsts(tmp_path: Path) -> None:
    config = load_config(
        "production",
        {
            "SECRET_KEY": GOOD_SECRET,
            "CONSENTAPP_INSTANCE": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "BASE_URL": "https://crm.example",
        },
    )
    app = create_app(config)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["PREFERRED_URL_SCHEME"] == "https"
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


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
