"""Markdown to HTML for texts we publish (the privacy notice): raw HTML is escaped."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> Markup:
    """Render CommonMark; any HTML in the source is shown as text, never executed."""
    # Safe to mark: with "html": False, markdown-it escapes every tag in the source.
    return Markup(_markdown.render(text))  # noqa: S704
