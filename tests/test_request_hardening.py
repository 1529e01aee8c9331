"""What a request cannot make the app do: build links on a forged host, read a large
body before the visitor is known to be staff."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import csrf_token

FORGED_HOST = "evil.example"


def language_links(html: str) -> dict[str, str]:
    """The language switch's links, by language."""
    links = re.findall(r'<a href="([^"]*)" lang="(\w+)" hreflang="\w+"', html)
    return {language: href.replace("&amp;", "&") for href, language in links}


@pytest.mark.parametrize(
    "query",
    [
        "_external=1&_scheme=https",
        "_external=1",
        "_scheme=https&_external=true&_anchor=top&_method=POST",
        "_external=1&q=kept",
    ],
)
def test_language_links_stay_paths_on_this_site_whatever_the_query(
    client: FlaskClient, query: str
) -> None:
    response = client.get(f"/?{query}", headers={"Host": FORGED_HOST})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    links = language_links(html)
    assert set(links) >= {"en"}, links
    for href in links.values():
        assert href.startswith("/") and not href.startswith("//"), href
        assert "#" not in href and "_" not in href, href
    assert FORGED_HOST not in html


def test_language_links_keep_the_visitors_own_query(client: FlaskClient) -> None:
    html = client.get("/?q=zoek&topic=a&topic=b&_external=1").get_data(as_text=True)
    assert language_links(html)["en"] == "/?q=zoek&topic=a&topic=b&lang=en"


def test_a_query_cannot_replace_the_pages_own_path_arguments(client: FlaskClient) -> None:
    html = client.get("/unsubscribe/not-a-token?token=other").get_data(as_text=True)
    assert language_links(html)["en"].startswith("/unsubscribe/not-a-token?")


class CountingBody(io.BytesIO):
    """A request body that records how much of it the app read."""

    def __init__(self, size: int) -> None:
        super().__init__(b"a" * size)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self.read_bytes += len(line)
        return line

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = super().readinto(buffer)
        self.read_bytes += count
        return count


@pytest.mark.parametrize("with_token", [True, False], ids=["with-csrf-token", "without"])
def test_an_anonymous_large_import_is_refused_before_its_body_is_read(
    app: Flask, with_token: bool
) -> None:
    """The import's larger limit is for logged-in staff; others stay at MAX_CONTENT_LENGTH."""
    client = app.test_client()
    token = csrf_token(client, "/staff/login") if with_token else ""
    size = 15 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] < size < app.config["IMPORT_MAX_BYTES"]
    body = CountingBody(size)
    response = client.post(  # a raw WSGI body: the client neither builds nor spools it
        "/staff/contacts/import",
        input_stream=body,
        content_length=size,
        content_type="multipart/form-data; boundary=x",
        headers={"X-CSRFToken": token} if token else {},
    )
    assert response.status_code == 413
    assert body.read_bytes == 0
