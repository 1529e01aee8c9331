"""The OpenAPI document and its documentation page (served from static/, no CDN)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify

from consentapp.api import bp, spec
from consentapp.problems import PROBLEM_MIME


def document() -> dict[str, Any]:
    """The generated document, with errors declared as problem documents (RFC 9457)."""
    doc: dict[str, Any] = copy.deepcopy(spec.spec)
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            for code, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if int(code) >= 400 and "application/json" in content:
                    answer["content"] = {PROBLEM_MIME: content["application/json"]}
    return doc


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI 3.1 document, generated from the views and their models."""
    return jsonify(document())


@bp.get("/docs")
def docs_page() -> Response:
    """A page that reads /api/v1/openapi.json and lists every operation."""
    assert current_app.static_folder is not None
    page = Path(current_app.static_folder, "api", "docs.html").read_text(encoding="utf-8")
    return Response(page, mimetype="text/html")
