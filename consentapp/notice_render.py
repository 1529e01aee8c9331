"""Markdown to HTML for texts we publish (the privacy notice): raw HTML is escaped."""

from __future__ import annotations

from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> str:
    """Render CommonMark; any HTML in the source is shown as text, never executed."""
    return str(_markdown.render(text))
