"""The one Markdown renderer: CommonMark to HTML for the texts we publish (privacy
notices, the record of processing, newsletters), and to plain text for the text part
of a newsletter. Raw HTML in the source is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

_OPTIONS = {"html": False, "linkify": False, "typographer": False}
_markdown = MarkdownIt("commonmark", _OPTIONS)
# Newsletters: a single line break is a line break, as in any mail program
# ("Met vriendelijke groeten,\nHet team" stays on two lines).
_newsletter = MarkdownIt("commonmark", {**_OPTIONS, "breaks": True})


LinkMap = Callable[[str], str]


def render_markdown(text: str, *, breaks: bool = False, link: LinkMap | None = None) -> Markup:
    """Render CommonMark; any HTML in the source is shown as text, never executed.
    With `breaks`, a single line break becomes `<br>` (newsletters); `link` gives the
    address each link points to instead of the one written (a click-counting redirect)."""
    renderer = _newsletter if breaks else _markdown
    env: dict[str, object] = {}
    tokens = _relinked(renderer.parse(text, env), link)
    # Safe to mark: with "html": False, markdown-it escapes every tag in the source.
    return Markup(renderer.renderer.render(tokens, renderer.options, env))  # noqa: S704


def render_plain_text(text: str, link: LinkMap | None = None) -> str:
    """The Markdown as a reader of a plain-text mail expects it: no `**` or `_`, links
    as "text (address)", list items with "- " or "1. ", headings underlined, quotes
    with "> ", and every line break of the source kept."""
    return _PlainText().render(_relinked(_newsletter.parse(text), link))


def _relinked(tokens: list[Token], link: LinkMap | None) -> list[Token]:
    """Each link's address replaced by `link(address)`; the written one kept in
    `meta["written"]` (the plain text compares it with the link's text)."""
    if link is None:
        return tokens
    for token in tokens:
        for child in token.children or []:
            if child.type == "link_open":
                written = str(child.attrGet("href") or "")
                child.meta["written"] = written
                child.attrSet("href", link(written))
    return tokens


def _inline_text(children: Sequence[Token]) -> str:
    """A paragraph's inline tokens as text: emphasis dropped, links as "text (url)"."""
    out: list[str] = []
    links: list[tuple[str, str, int]] = []  # open links: address, as written, text start
    for token in children:
        if token.type in ("text", "code_inline"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif token.type == "image":
            out.append(token.content)
        elif token.type == "link_open":
            href = str(token.attrGet("href") or "")
            links.append((href, str(token.meta.get("written", href)), len(out)))
        elif token.type == "link_close" and links:
            href, written, start = links.pop()
            shown = "".join(out[start:])
            if href != written and written in (shown, f"mailto:{shown}"):
                out[start:] = [href]  # an address written as itself: the redirect instead
            elif href and href not in (shown, f"mailto:{shown}"):
                out.append(f" ({href})")
    return "".join(out)


class _PlainText:
    """Walks markdown-it's block tokens and writes each block as text."""

    def __init__(self) -> None:
        self.blocks: list[str] = []
        self.lists: list[list[int]] = []  # per open list: [ordered?, last number]
        self.quotes = 0
        self.marker = ""  # the bullet or number waiting for a list item's first block
        self.heading = 0
        self.new_list = False  # a list starts after other blocks: a blank line first

    def render(self, tokens: Sequence[Token]) -> str:
        for token in tokens:
            handler = getattr(self, "on_" + token.type, None)
            if handler is not None:
                handler(token)
        return "".join(self.blocks).strip("\n") + "\n"

    def on_bullet_list_open(self, token: Token) -> None:
        self.lists.append([0, 0])
        self.new_list = len(self.lists) == 1

    def on_ordered_list_open(self, token: Token) -> None:
        self.lists.append([1, int(str(token.attrGet("start") or 1)) - 1])
        self.new_list = len(self.lists) == 1

    def on_bullet_list_close(self, token: Token) -> None:
        self.lists.pop()

    on_ordered_list_close = on_bullet_list_close

    def on_list_item_open(self, token: Token) -> None:
        current = self.lists[-1]
        current[1] += 1
        self.marker = f"{current[1]}. " if current[0] else "- "

    def on_blockquote_open(self, token: Token) -> None:
        self.quotes += 1

    def on_blockquote_close(self, token: Token) -> None:
        self.quotes -= 1

    def on_heading_open(self, token: Token) -> None:
        self.heading = int(token.tag[1:])

    def on_inline(self, token: Token) -> None:
        body = _inline_text(token.children or [])
        if self.heading:
            body = f"{body}\n{('=' if self.heading == 1 else '-') * len(body)}"
            self.heading = 0
        self.write(body)

    def on_fence(self, token: Token) -> None:
        self.write(token.content.rstrip("\n"))

    on_code_block = on_fence

    def on_hr(self, token: Token) -> None:
        self.write("-" * 20)

    def write(self, body: str) -> None:
        indent = "  " * max(len(self.lists) - 1, 0)
        if self.marker:
            first, rest = indent + self.marker, indent + " " * len(self.marker)
            self.marker = ""
        elif self.lists:
            first = rest = indent + "  "
        else:
            first = rest = ""
        lines = body.split("\n")
        text = "\n".join([first + lines[0], *(rest + line if line else line for line in lines[1:])])
        if self.quotes:
            text = "\n".join("> " * self.quotes + line for line in text.split("\n"))
        # Items of a list follow one another; other blocks get a blank line between.
        gap = "\n" if self.lists and not self.new_list else "\n\n"
        self.new_list = False
        self.blocks.append(gap + text)
