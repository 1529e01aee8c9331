"""The one Markdown renderer: CommonMark to HTML for the texts we publish (privacy
notices, the record of processing, newsletters). Raw HTML in the source is escaped."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str) -> Markup:
    """Render CommonMark; any HTML in the source is shown as text, never executed."""
    # Safe to mark: with "html": False, markdown-it escapes every tag in the source.
    return Markup(_markdown.render(text))  # noqa: S704
