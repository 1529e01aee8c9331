"""The redirect behind every link of a newsletter (`/r/<token>`) and the open pixel
in the mails of those who agreed to personal statistics (`/o/<token>.gif`)."""

from __future__ import annotations

import base64

from flask import Response, abort, request

from consentapp.public import bp
from consentapp.services.campaign_links import (
    count_click,
    count_open,
    read_click,
    record_personal,
    target_of,
)

# A transparent GIF of one pixel.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@bp.get("/r/<token>")
def follow_link(token: str) -> Response:
    """Count the click for (campaign link, day) and send the reader on, with 302, to the
    address exactly as the newsletter wrote it. Only a link the campaign holds can be
    reached: the token is its signed id. A personal link also records the click for the
    reader while they agree to personal statistics. A HEAD (link checkers, previews)
    is not counted."""
    click = read_click(token)
    target = target_of(click[0]) if click is not None else None
    if click is None or target is None:
        abort(404)
    (link_id, reader), (url, campaign_id) = click, target
    if request.method == "GET":
        if reader is not None:
            record_personal(reader, campaign_id, link_id)
        count_click(link_id)
    response = Response(status=302)
    # Set as it is: werkzeug's redirect() would rewrite an address it finds unusual.
    response.headers["Location"] = url
    return _private(response)


@bp.get("/o/<token>.gif")
def open_pixel(token: str) -> Response:
    """The image, always; the open recorded only for a consenting reader's token."""
    if request.method == "GET":
        count_open(token)
    return _private(Response(PIXEL, mimetype="image/gif"))


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
