"""consentapp: a consent and newsletter subscription manager that keeps privacy promises."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from consentapp.config import Config, load_config

PACKAGE_DIR = Path(__file__).resolve().parent


def _resource_dir(name: str) -> str:
    """Top-level folder in a checkout, or the copy shipped inside the wheel."""
    shipped = PACKAGE_DIR / name
    return str(shipped if shipped.is_dir() else PACKAGE_DIR.parent / name)


def create_app(
    config: Config | str | None = None, overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Build the app from a profile name, a Config object, or the environment."""
    cfg = config if isinstance(config, Config) else load_config(config)
    app = Flask(
        __name__,
        template_folder=_resource_dir("templates"),
        static_folder=_resource_dir("static"),
        instance_path=str(cfg.INSTANCE_PATH),
    )
    app.config.from_object(cfg)
    if overrides:
        app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )

    from consentapp.mail.dkim_sign import check_keys

    check_keys(app.config)  # a DKIM key that cannot sign stops the start, not the first mail
    if app.config["ENV_NAME"] == "production":
        from consentapp.mail.alignment import warn_about_alignment

        warn_about_alignment(app.config)
    register_extensions(app)
    register_engine(app)
    register_blueprints(app)
    register_request_hooks(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the extension singletons to this app."""
    from consentapp import i18n
    from consentapp.cookies import SessionCookie
    from consentapp.extensions import babel, csrf, db, limiter, login_manager, mail, migrate
    from consentapp.services import passwords, reference
    from consentapp.services.staff_accounts import load_session_user

    app.session_interface = SessionCookie()
    db.init_app(app)
    migrate.init_app(app, db, directory=_resource_dir("migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(PACKAGE_DIR / "translations"),
    )
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "staff.login"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)
    passwords.warm_up(app.config["ARGON2_PROFILE"])
    reference.init_app(app)


def register_engine(app: Flask) -> None:
    """With a broker configured, Celery takes the work and is told of new mail at once."""
    if not app.config["CELERY_BROKER_URL"]:
        return
    import sqlalchemy as sa

    from consentapp.tasks import forget_queued, init_celery, kick_delivery

    init_celery(app)
    if not sa.event.contains(sa.orm.Session, "after_commit", kick_delivery):
        sa.event.listen(sa.orm.Session, "after_commit", kick_delivery)
    if not sa.event.contains(sa.orm.Session, "after_rollback", forget_queued):
        sa.event.listen(sa.orm.Session, "after_rollback", forget_queued)


def register_blueprints(app: Flask) -> None:
    """Mount each area of the site at its prefix."""
    from consentapp import api, devmail, embed, public, rights, staff, subscriptions, webhooks

    app.register_blueprint(public.bp)
    app.register_blueprint(rights.bp)
    app.register_blueprint(subscriptions.bp)
    app.register_blueprint(staff.bp, url_prefix="/staff")
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(embed.bp)
    devmail.init_app(app)  # development only


def register_request_hooks(app: Flask) -> None:
    """Security headers, language memory and error pages."""
    from consentapp import errors, form_fields, i18n, labels, security
    from consentapp.tokens import Purpose, lifetime_days

    app.jinja_env.globals["confirm_link_days"] = lifetime_days(Purpose.CONFIRM)
    security.init_app(app)
    labels.init_app(app)
    form_fields.init_app(app)
    i18n.init_app(app)
    errors.init_app(app)


def register_commands(app: Flask) -> None:
    """`flask --app wsgi ...` commands."""
    from consentapp import api_cli, campaign_cli, cli, dkim_cli, webhook_commands

    cli.init_app(app)
    api_cli.init_app(app)
    campaign_cli.init_app(app)
    dkim_cli.init_app(app)
    webhook_commands.init_app(app)
