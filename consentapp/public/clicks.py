"""The redirect behind every link of a newsletter: `/r/<token>`."""

from __future__ import annotations

from flask import Response, abort, request

from consentapp.public import bp
from consentapp.services.campaign_links import count_click, read_link_token, target_of


@bp.get("/r/<token>")
def follow_link(token: str) -> Response:
    """Count the click for (campaign link, day) and send the reader on, with 302, to the
    address exactly as the newsletter wrote it. Only a link the campaign holds can be
    reached: the token is its signed id. A HEAD (link checkers, previews) is not counted."""
    link_id = read_link_token(token)
    url = target_of(link_id) if link_id is not None else None
    if link_id is None or url is None:
        abort(404)
    if request.method == "GET":
        count_click(link_id)
    response = Response(status=302)
    # Set as it is: werkzeug's redirect() would rewrite an address it finds unusual.
    response.headers["Location"] = url
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
