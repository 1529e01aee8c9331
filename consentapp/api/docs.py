"""The OpenAPI document and its documentation page (served from static/, no CDN)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify

from consentapp.api import bp, spec
from consentapp.problems import PROBLEM_MIME


def document() -> dict[str, Any]:
    """The generated document, with errors declared as problem documents (RFC 9457),
    each operation named by its view (`create_contact`) and summed up in one line."""
    doc: dict[str, Any] = copy.deepcopy(spec.spec)
    names = _operation_names()
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            operation["operationId"] = names.get((path, method), operation.get("operationId"))
            _short_summary(operation)
            for code, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if int(code) >= 400 and "application/json" in content:
                    answer["content"] = {PROBLEM_MIME: content["application/json"]}
    return doc


def _short_summary(operation: dict[str, Any]) -> None:
    """The docstring's first sentence as the summary, the rest before the description."""
    text = " ".join(str(operation.get("summary") or "").split())
    first, _, rest = text.partition(". ")
    operation["summary"] = first if not rest else first + "."
    if rest:
        operation["description"] = f"{rest}\n\n{operation.get('description') or ''}".strip()


def _operation_names() -> dict[tuple[str, str], str]:
    """(OpenAPI path, method) -> the view's name, for every API route."""
    names = {}
    for rule in current_app.url_map.iter_rules():
        blueprint, _, view = rule.endpoint.partition(".")
        if blueprint != "api":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods or ():
            names[(path, method.lower())] = view
    return names


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
