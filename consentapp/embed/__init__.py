"""`/api/embed`: JSON for script-driven forms on the company's own site.

Only origins in `EMBED_ORIGINS` get CORS headers and may post; every answer is JSON
(refusals as RFC 9457 problem documents) and is never cached.
"""

from flask import Blueprint, Response, request
from flask.blueprints import BlueprintSetupState

from consentapp.config import ConfigError
from consentapp.request_checks import listed_origins, url_origin
from consentapp.security import no_store

bp = Blueprint("embed", __name__, url_prefix="/api/embed")
bp.after_request(no_store)


@bp.record_once
def _check_origins(state: BlueprintSetupState) -> None:
    """An entry that is not an origin would never match: say so at start, not never."""
    for raw in state.app.config.get("EMBED_ORIGINS") or []:
        origin = url_origin(raw)
        if origin is None or raw.rstrip("/").lower() not in (
            origin,
            origin + ":443",
            origin + ":80",
        ):
            raise ConfigError(
                f"EMBED_ORIGINS: {raw!r} is not an origin such as https://www.example.com"
            )


@bp.after_request
def cors_headers(response: Response) -> Response:
    """CORS for listed origins only: their origin echoed, preflights answered; `Vary: Origin`
    always, so a cache never hands one origin's answer to another."""
    response.vary.add("Origin")
    origin = url_origin(request.headers.get("Origin") or "")
    if origin is None or origin not in listed_origins():
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


from consentapp.embed import routes  # noqa: E402,F401
