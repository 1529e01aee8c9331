"""Development only (`CONSENTAPP_ENV=development`, as under `make run`): the mailbox
page `/dev/mail` shows what the local mail sink received, and the access log leaves
out static files. Never registered in any other environment."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, render_template
from markupsafe import Markup, escape

from consentapp.devmail.access_log import QuietAccessLog
from consentapp.mail.sink import MailStore

bp = Blueprint("devmail", __name__)

# The mail's own HTML runs nothing: no script, no form, no plugin; links open a new tab.
MAIL_HTML_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data: http: https:",
        "frame-ancestors 'self'",
        "form-action 'none'",
        "sandbox allow-popups allow-popups-to-escape-sandbox",
    ]
)
_URL = re.compile(r"https?://[^\s<>\"']+")


def _store() -> MailStore:
    return MailStore(Path(current_app.config["DEV_MAILBOX"]))


@bp.route("/dev/mail")
def mailbox() -> str:
    """The mails the sink received, newest first (the last 50)."""
    return render_template("dev/mailbox.html", mails=_store().latest(50))


@bp.route("/dev/mail/<name>")
def mail(name: str) -> str:
    """One mail: headers, the HTML part in a sandboxed frame, the text part with links."""
    message = _store().message(name)
    if message is None:
        abort(404)
    text = message.get_body(preferencelist=("plain",))
    return render_template(
        "dev/mail.html",
        name=name,
        message=message,
        text=linked(text.get_content()) if text is not None else None,
        has_html=message.get_body(preferencelist=("html",)) is not None,
    )


@bp.route("/dev/mail/<name>/html")
def mail_html(name: str) -> Response:
    """The HTML part alone, under a policy that runs nothing, for the frame."""
    message = _store().message(name)
    part = message.get_body(preferencelist=("html",)) if message is not None else None
    if part is None:
        abort(404)
    body = '<base target="_blank">' + str(part.get_content())
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = MAIL_HTML_POLICY
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def linked(text: str) -> Markup:
    """Plain text, escaped, with its web addresses as links."""
    out, last = [], 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(".,;:)")
        out += [escape(text[last : match.start()]), Markup('<a href="{0}">{0}</a>').format(url)]
        last = match.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


def init_app(app: Flask) -> None:
    """In development only: the mailbox page, and the quieter access log."""
    if app.config["ENV_NAME"] != "development":
        return
    app.config.setdefault("DEV_MAILBOX", f"{app.instance_path}/dev-mail")
    app.register_blueprint(bp)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, QuietAccessLog) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(QuietAccessLog())
