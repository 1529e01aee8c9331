"""HTTP security headers: a strict CSP, no referrer (tokens travel in URLs), no framing."""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


def set_security_headers(response: Response) -> Response:
    """Add the headers every response carries, leaving any a view set itself.

    One pass over the response's headers: `Headers.setdefault` would scan them and
    raise a KeyError for each missing one, on every response, the redirect included.
    """
    headers = response.headers
    present = {key.lower() for key, _ in headers.items()}
    for key, value in SECURITY_HEADERS:
        if key.lower() not in present:
            headers.add(key, value)
    return response


def no_store(response: Response) -> Response:
    """Pages and downloads with personal data stay out of browser and proxy caches.

    Registered with `after_request` on the blueprints that show them, so every view
    there, and every error page they answer with, carries it.
    """
    response.headers["Cache-Control"] = "no-store"
    return response


def set_hsts(response: Response) -> Response:
    """Production over HTTPS: browsers must never fall back to plain HTTP."""
    response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def init_app(app: Flask) -> None:
    """Register the header hooks."""
    app.after_request(set_security_headers)
    if app.config["SESSION_COOKIE_SECURE"]:
        app.after_request(set_hsts)
