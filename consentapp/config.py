"""Configuration, read from the environment (a `.env` file may feed it).

`CONSENTAPP_ENV` picks the profile: `production` (the default, so that a forgotten
setting fails closed), `development` or `testing`. Every variable and its default is
listed in the README; the names are part of the operators' contract.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import find_dotenv, load_dotenv

PACKAGE_DIR = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


def default_instance_dir() -> Path:
    """`instance/` of the checkout the package runs from, else of the working directory."""
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "wsgi.py").is_file():
        return checkout / "instance"
    return Path.cwd() / "instance"


# The test suite's own key: public, so production refuses it like any default.
TESTING_SECRET_KEY = "testing-secret-key-that-is-long-enough-0123456789"  # noqa: S105

# Never to sign anything in production: well-known defaults and every key in this
# repository (tests, docs); a test fails when a key-like literal found there is missing.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"", "dev", "changeme", "change-me", "secret", "secret-key", "development", "test",
     TESTING_SECRET_KEY, "a-brand-new-secret-key-of-enough-length-123"}
)  # fmt: skip
_KNOWN_DEFAULTS_FOLDED = frozenset(key.strip().lower() for key in KNOWN_DEFAULT_SECRETS)
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT_CHARACTERS = 10  # a random key of 32 characters has far more
HOW_TO_GENERATE_A_KEY = (
    'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(48))"'
)

# The languages the site speaks, default first; the catalogs under translations/ match.
LANGUAGES = ("nl", "en")


class ConfigError(RuntimeError):
    """The configuration is unsafe or incomplete; the app refuses to start."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _timezone(environ: Mapping[str, str]) -> str:
    """`TIMEZONE`: times are stored in UTC, shown and entered in this zone; unknown refused."""
    name = (environ.get("TIMEZONE") or "").strip() or "Europe/Brussels"
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"TIMEZONE {name!r} is unknown (e.g. Europe/Brussels)") from exc


def _list(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def secret_key_problem(key: str) -> str | None:
    """Why `key` must not sign anything in production (never quoting it), or None."""
    if not key.strip():
        return "is missing"
    if key.strip().lower() in _KNOWN_DEFAULTS_FOLDED:
        return "is a known default or a key that appears in this project's code or documentation"
    if len(key) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(key)) < MIN_SECRET_DISTINCT_CHARACTERS:
        return (
            f"has fewer than {MIN_SECRET_DISTINCT_CHARACTERS} different characters, "
            "so it is not random"
        )
    return None


def _gunicorn_workers(environ: Mapping[str, str]) -> int | None:
    """The worker count gunicorn will use, when the environment says it (else None)."""
    args = environ.get("GUNICORN_CMD_ARGS", "")
    match = re.search(r"(?:^|\s)(?:-w\s*|--workers(?:=|\s+))(\d+)", args)
    raw = match.group(1) if match else environ.get("WEB_CONCURRENCY", "").strip()
    return int(raw) if raw.isdigit() else None


class Config:
    """Settings shared by every profile; subclasses change the defaults."""

    ENV_NAME = "production"
    DEBUG = False
    TESTING = False
    # argon2 parameters for staff passwords (services/passwords.PASSWORD_PROFILES).
    # Not read from the environment: only the test suite uses the cheap profile.
    ARGON2_PROFILE = "default"
    DEFAULT_MAIL_SERVER = "localhost"
    DEFAULT_MAIL_PORT = 25
    DEFAULT_BOUNCE_DOMAIN: str | None = None

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.INSTANCE_PATH = Path(env.get("CONSENTAPP_INSTANCE") or default_instance_dir())
        self.SECRET_KEY = env.get("SECRET_KEY", "") or self.default_secret_key()
        self.SECRET_KEY_FALLBACKS = _list(env.get("SECRET_KEY_FALLBACKS"))

        default_db = f"sqlite:///{self.INSTANCE_PATH / 'consentapp.sqlite3'}"
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(env.get("DATABASE_URL") or default_db)
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
        self.REFERENCE_CACHE_SECONDS = _int(env, "REFERENCE_CACHE_SECONDS", 1)
        self.PAGE_CACHE = _bool(env.get("PAGE_CACHE"), True)
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False

        self.BASE_URL = (env.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")

        self.ORG_NAME = env.get("ORG_NAME") or "CRM"
        self.ORG_ADDRESS = env.get("ORG_ADDRESS") or "Voorbeeldstraat 1, 9000 Gent, België"
        self.ORG_EMAIL = env.get("ORG_EMAIL") or "privacy@example.com"
        self.STAFF_NOTIFY_EMAIL = env.get("STAFF_NOTIFY_EMAIL") or self.ORG_EMAIL

        self.MAIL_SERVER = env.get("MAIL_SERVER") or self.DEFAULT_MAIL_SERVER
        self.MAIL_PORT = _int(env, "MAIL_PORT", self.DEFAULT_MAIL_PORT)
        self.MAIL_USE_TLS = _bool(env.get("MAIL_USE_TLS"), False)
        self.MAIL_USE_SSL = _bool(env.get("MAIL_USE_SSL"), False)
        self.MAIL_USERNAME = env.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER") or (
            f"{self.ORG_NAME} <{self.ORG_EMAIL}>"
        )
        self.MAIL_TIMEOUT = _int(env, "MAIL_TIMEOUT", 20)
        self.MAIL_LEASE_SECONDS = _int(env, "MAIL_LEASE_SECONDS", 15)  # see leases.Lease
        self.MAIL_PIPELINE_DEPTH = _int(env, "MAIL_PIPELINE_DEPTH", 8)  # see mail/outcomes.py
        self.MAIL_CONNECTIONS = _int(env, "MAIL_CONNECTIONS", 2)  # per worker, see delivery.py

        self.CELERY_BROKER_URL = env.get("CELERY_BROKER_URL") or None
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI") or "memory://"
        self.RATELIMIT_ENABLED = _bool(env.get("RATELIMIT_ENABLED"), True)
        self.RATELIMIT_HEADERS_ENABLED = True
        # The limiter would put its own Retry-After (0 in a window's last second) on
        # every answer; the refusals (429) set theirs, at least one second.
        self.RATELIMIT_HEADER_RETRY_AFTER = "X-RateLimit-Retry-After"
        self.CONTACT_RATE_LIMIT = env.get("CONTACT_RATE_LIMIT") or "5 per minute;20 per hour"
        self.SUBSCRIBE_RATE_LIMIT = env.get("SUBSCRIBE_RATE_LIMIT") or "5 per minute;20 per hour"
        self.LOGIN_RATE_LIMIT = env.get("LOGIN_RATE_LIMIT") or "10 per minute;50 per hour"
        self.API_RATE_LIMIT = env.get("API_RATE_LIMIT") or "600 per minute"
        self.STAFF_LOCKOUT_AFTER = _int(env, "STAFF_LOCKOUT_AFTER", 5)
        # A lock lifts by itself: the first after this many seconds, each further one
        # in a row after twice as long as the one before, never longer than the maximum.
        self.STAFF_LOCKOUT_SECONDS = _int(env, "STAFF_LOCKOUT_SECONDS", 60)
        self.STAFF_LOCKOUT_MAX_SECONDS = _int(env, "STAFF_LOCKOUT_MAX_SECONDS", 3600)
        self._check_lockout()
        self.STAFF_IDLE_MINUTES = _int(env, "STAFF_IDLE_MINUTES", 30)
        self.DASHBOARD_REFRESH_SECONDS = _int(env, "DASHBOARD_REFRESH_SECONDS", 60)
        self.DASHBOARD_MAX_AGE_SECONDS = _int(env, "DASHBOARD_MAX_AGE_SECONDS", 300)
        self.IMPORT_MAX_BYTES = _int(env, "IMPORT_MAX_BYTES", 20 * 1024 * 1024)
        self.UNCONFIRMED_RETENTION_DAYS = _int(env, "UNCONFIRMED_RETENTION_DAYS", 30)
        self.PURGE_INTERVAL_MINUTES = _int(env, "PURGE_INTERVAL_MINUTES", 60)
        self.CLICK_FLUSH_SECONDS = _int(env, "CLICK_FLUSH_SECONDS", 1)  # see click_tally.py

        # Number of reverse proxies in front of the app whose X-Forwarded-For is trusted.
        self.TRUSTED_PROXY_COUNT = _int(env, "TRUSTED_PROXY_COUNT", 0)

        self.WORKER_POLL_SECONDS = _int(env, "WORKER_POLL_SECONDS", 2)
        self.MAIL_BATCH_SIZE = _int(env, "MAIL_BATCH_SIZE", 50)
        self.MAIL_RATE_PER_SECOND = _int(env, "MAIL_RATE_PER_SECOND", 0)
        self.MAIL_RATE_PER_HOUR = _int(env, "MAIL_RATE_PER_HOUR", 0)
        self.CAMPAIGN_MAX_CONSECUTIVE_FAILURES = _int(env, "CAMPAIGN_MAX_CONSECUTIVE_FAILURES", 20)
        for name in ("DOMAIN", "SELECTOR", "KEY_PATH", "ED25519_SELECTOR", "ED25519_KEY_PATH"):
            setattr(self, f"DKIM_{name}", env.get(f"DKIM_{name}") or None)
        # A temporary refusal (4xx) for a recipient is tried this many times in all,
        # then the mail fails and counts as a soft bounce.
        self.MAIL_MAX_ATTEMPTS = _int(env, "MAIL_MAX_ATTEMPTS", 10)
        self._bounce_settings(env)

        # Provider webhooks for bounces and complaints: each is off until its secret is set.
        self.BOUNCE_WEBHOOK_SECRET = env.get("BOUNCE_WEBHOOK_SECRET") or None
        self.BOUNCE_WEBHOOK_SES_TOPIC_ARNS = _list(env.get("BOUNCE_WEBHOOK_SES_TOPIC_ARNS"))
        self.BOUNCE_WEBHOOK_POSTMARK_SECRET = env.get("BOUNCE_WEBHOOK_POSTMARK_SECRET") or None
        self.BOUNCE_WEBHOOK_SENDGRID_KEY = env.get("BOUNCE_WEBHOOK_SENDGRID_KEY") or None
        self.BOUNCE_WEBHOOK_MAILGUN_KEY = env.get("BOUNCE_WEBHOOK_MAILGUN_KEY") or None
        self.BOUNCE_WEBHOOK_TOLERANCE_SECONDS = _int(env, "BOUNCE_WEBHOOK_TOLERANCE_SECONDS", 300)
        # Counts refused requests only (bad signature, unknown provider): a burst of
        # genuine events is never throttled.
        self.BOUNCE_WEBHOOK_RATE_LIMIT = (
            env.get("BOUNCE_WEBHOOK_RATE_LIMIT") or "30 per minute;300 per hour"
        )

        # Origins of the company's own site, whose forms post here without our CSRF token.
        self.EMBED_ORIGINS = _list(env.get("EMBED_ORIGINS"))
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_CONTENT_LENGTH", 1024 * 1024)
        self.MAX_FORM_MEMORY_SIZE = self.MAX_CONTENT_LENGTH

        self.SESSION_COOKIE_NAME = "consentapp_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        # Secure cookies (and HSTS, which follows them) only where the site is served
        # over HTTPS: over plain HTTP the browser would drop the cookie and every form
        # would fail as expired. Production on http:// is warned about at start.
        https = self.BASE_URL.lower().startswith("https://")
        self.SESSION_COOKIE_SECURE = self.ENV_NAME == "production" and https
        self.PREFERRED_URL_SCHEME = "https" if https else "http"
        self._gunicorn_workers = _gunicorn_workers(env)

        # Forms check their own CSRF token so that an expired token re-renders the
        # form with the visitor's input instead of throwing it away.
        self.WTF_CSRF_CHECK_DEFAULT = False
        self.WTF_CSRF_TIME_LIMIT = 8 * 3600

        self.LANGUAGES = LANGUAGES
        self.BABEL_DEFAULT_LOCALE = LANGUAGES[0]
        self.TIMEZONE = _timezone(env)
        self.BABEL_DEFAULT_TIMEZONE = self.TIMEZONE

    def _bounce_settings(self, env: Mapping[str, str]) -> None:
        """Where reports come back, and what they do (see services/bounces.py)."""
        domain = (env.get("BOUNCE_DOMAIN") or self.DEFAULT_BOUNCE_DOMAIN or "").strip().lower()
        self.BOUNCE_DOMAIN = domain or None
        self.BOUNCE_SERVER_HOST = env.get("BOUNCE_SERVER_HOST") or "127.0.0.1"
        self.BOUNCE_SERVER_PORT = _int(env, "BOUNCE_SERVER_PORT", 2525)
        self.BOUNCE_MAX_MESSAGE_BYTES = _int(env, "BOUNCE_MAX_MESSAGE_BYTES", 10 * 1024 * 1024)
        self.BOUNCE_MAILBOX_URL = env.get("BOUNCE_MAILBOX_URL") or None
        self.BOUNCE_MAILBOX_POLL_SECONDS = _int(env, "BOUNCE_MAILBOX_POLL_SECONDS", 300)
        # A CA certificate (PEM file) trusted for the mailbox's TLS besides the system's.
        self.BOUNCE_MAILBOX_CA_FILE = env.get("BOUNCE_MAILBOX_CA_FILE") or None
        # Thresholds (0 turns the action off): this many hard bounces, soft bounces
        # within BOUNCE_SOFT_DAYS, or complaints make the address undeliverable; a
        # complaint also withdraws every topic unless BOUNCE_COMPLAINT_WITHDRAWS is off.
        self.BOUNCE_HARD_LIMIT = _int(env, "BOUNCE_HARD_LIMIT", 1)
        self.BOUNCE_SOFT_LIMIT = _int(env, "BOUNCE_SOFT_LIMIT", 3)
        self.BOUNCE_SOFT_DAYS = _int(env, "BOUNCE_SOFT_DAYS", 30)
        self.BOUNCE_COMPLAINT_LIMIT = _int(env, "BOUNCE_COMPLAINT_LIMIT", 1)
        self.BOUNCE_COMPLAINT_WITHDRAWS = _bool(env.get("BOUNCE_COMPLAINT_WITHDRAWS"), True)
        # Outgoing webhooks to loopback, private or link-local addresses: only if true.
        self.WEBHOOK_ALLOW_PRIVATE_TARGETS = _bool(env.get("WEBHOOK_ALLOW_PRIVATE_TARGETS"), False)
        # The dashboard warns above this complaint rate over 30 days (Gmail's limit: 0.3 %).
        try:
            self.BOUNCE_COMPLAINT_WARN_PERCENT = float(
                env.get("BOUNCE_COMPLAINT_WARN_PERCENT") or 0.1
            )
        except ValueError as exc:
            raise ConfigError("BOUNCE_COMPLAINT_WARN_PERCENT must be a number, e.g. 0.1") from exc

    def _check_lockout(self) -> None:
        """Lockout settings that would lock nobody out, or lift a lock early, are refused
        in every profile, at once."""
        if self.STAFF_LOCKOUT_AFTER < 1 or self.STAFF_LOCKOUT_SECONDS < 1:
            raise ConfigError("STAFF_LOCKOUT_AFTER and STAFF_LOCKOUT_SECONDS must be at least 1")
        if self.STAFF_LOCKOUT_MAX_SECONDS < self.STAFF_LOCKOUT_SECONDS:
            raise ConfigError("STAFF_LOCKOUT_MAX_SECONDS must not be below STAFF_LOCKOUT_SECONDS")

    def default_secret_key(self) -> str:
        """Production has no default: an empty key is refused in `validate`."""
        return ""

    def validate(self) -> None:
        """Refuse settings that are unsafe for this profile."""

    def warnings(self) -> list[str]:
        """Settings that work but that an operator should know are risky."""
        return []


class ProductionConfig(Config):
    """The profile for real deployments: refuses to run on a missing or default secret."""

    def validate(self) -> None:
        """Every key that verifies signatures gets the same checks: an old key that is
        still accepted opens sessions and links as well as the current one."""
        problems = []
        problem = secret_key_problem(self.SECRET_KEY)
        if problem:
            problems.append(f"SECRET_KEY {problem}")
        for number, key in enumerate(self.SECRET_KEY_FALLBACKS, start=1):
            problem = secret_key_problem(key)
            if problem:
                problems.append(f"SECRET_KEY_FALLBACKS entry #{number} {problem}")
        if problems:
            raise ConfigError("; ".join(problems) + ". " + HOW_TO_GENERATE_A_KEY)

    def warnings(self) -> list[str]:
        found = []
        if not self.BASE_URL.lower().startswith("https://"):
            found.append(
                f"BASE_URL is {self.BASE_URL}, not https://: cookies are sent without the "
                "Secure flag and there is no HSTS, so logins and form tokens travel in "
                "clear text. Serve the site over HTTPS and set BASE_URL to its https:// address."
            )
        if self.RATELIMIT_ENABLED and self.RATELIMIT_STORAGE_URI.startswith("memory://"):
            workers = self._gunicorn_workers
            scale = (
                f"with the {workers} gunicorn workers configured, each limit is {workers} times "
                "what it says"
                if workers and workers > 1
                else "with several gunicorn workers or machines each limit is multiplied "
                "by their number"
            )
            found.append(
                "RATELIMIT_STORAGE_URI is memory://: every worker process counts on its own, "
                f"so {scale}. Set RATELIMIT_STORAGE_URI to a shared store such as "
                "redis://localhost:6379/0."
            )
        return found


class DevelopmentConfig(Config):
    """`make run`: SQLite, the local mail sink, a secret kept under instance/."""

    ENV_NAME = "development"
    DEFAULT_MAIL_SERVER = "127.0.0.1"
    DEFAULT_MAIL_PORT = 8025
    # `make run` starts a bounce server for this domain next to the sink.
    DEFAULT_BOUNCE_DOMAIN = "bounces.localhost"

    def default_secret_key(self) -> str:
        """Keep one random key per checkout so mailed links survive restarts."""
        path = self.INSTANCE_PATH / "dev-secret-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


class TestingConfig(Config):
    """The test suite: the fixtures point the database and mail at their own servers."""

    __test__ = False  # not a pytest test class
    ENV_NAME = "testing"
    TESTING = True
    # Hashing a password the strong way takes a tenth of a second; the suite logs in
    # hundreds of times. What is tested about passwords does not depend on the cost.
    ARGON2_PROFILE = "cheapest"
    DEFAULT_MAIL_SERVER = "127.0.0.1"
    DEFAULT_MAIL_PORT = 8025

    def default_secret_key(self) -> str:
        return TESTING_SECRET_KEY

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(environ)
        # Tests read the dashboard and the click counts right after changing data.
        for name in ("DASHBOARD_MAX_AGE_SECONDS", "CLICK_FLUSH_SECONDS"):
            if environ is None or name not in environ:
                setattr(self, name, 0)


PROFILES: dict[str, type[Config]] = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "testing": TestingConfig,
}


def normalise_database_url(url: str) -> str:
    """Accept the URLs hosting providers hand out and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def load_config(name: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the profile named by `name` or `CONSENTAPP_ENV` (default production)."""
    if environ is None:
        load_dotenv(find_dotenv(usecwd=True))
    env = os.environ if environ is None else environ
    profile = (name or env.get("CONSENTAPP_ENV") or "production").strip().lower()
    try:
        cls = PROFILES[profile]
    except KeyError as exc:
        choices = ", ".join(sorted(PROFILES))
        raise ConfigError(f"CONSENTAPP_ENV must be one of {choices}, got {profile!r}") from exc
    config = cls(env)
    config.validate()
    for warning in config.warnings():
        log.warning(warning)
    return config
