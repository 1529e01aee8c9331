"""`/api/embed`: JSON for script-driven forms on the company's own site.

Only origins in `EMBED_ORIGINS` get CORS headers and may post; every answer is JSON
(refusals as RFC 9457 problem documents) and is never cached.
"""

from flask import Blueprint, Response, request

from consentapp.request_checks import listed_origins, url_origin
from consentapp.security import no_store

bp = Blueprint("embed", __name__, url_prefix="/api/embed")
bp.after_request(no_store)


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
