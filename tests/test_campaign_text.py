"""A newsletter's text as its readers expect it: single line breaks are breaks in the
HTML part, and the plain-text part is real text (no Markdown marks), on a real mail."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.markdown import render_markdown, render_plain_text
from consentapp.models import Topic
from consentapp.services.campaign_drafts import create_campaign
from tests.flows import start
from tests.helpers import deliver, text_of
from tests.services import SMTPServer

SOURCE = """# Nieuws van **ons**

Beste klant,
dit is _nieuw_: lees het op [onze site](https://example.be/nieuws) of <https://example.be>.

- een
- twee
  op twee regels
  - genest

3. drie
4. vier

> citaat
> tweede regel

Met vriendelijke groeten,
Het team
"""

PLAIN = """Nieuws van ons
==============

Beste klant,
dit is nieuw: lees het op onze site (https://example.be/nieuws) of https://example.be.

- een
- twee
  op twee regels
  - genest

3. drie
4. vier

> citaat
> tweede regel

Met vriendelijke groeten,
Het team
"""


def test_the_plain_text_is_text_not_markdown() -> None:
    assert render_plain_text(SOURCE) == PLAIN


def test_code_and_rules_stay_readable_in_plain_text() -> None:
    text = render_plain_text("Voor\n\n    pip install x\n\n---\n\nNa `code` en ![logo](x.png)")
    assert text == "Voor\n\npip install x\n\n--------------------\n\nNa code en logo\n"


def test_single_line_breaks_are_breaks_in_newsletters_only() -> None:
    html = str(render_markdown("Met vriendelijke groeten,\nHet team", breaks=True))
    assert html == "<p>Met vriendelijke groeten,<br />\nHet team</p>\n"
    # Published notices keep CommonMark's rule (a single break joins the lines).
    assert "<br" not in str(render_markdown("Met vriendelijke groeten,\nHet team"))


def _target(app: Flask, url: str) -> str:
    return str(app.test_client().get(url.removeprefix("http://localhost")).headers["Location"])


def test_a_sent_newsletter_has_both_parts_right(
    app: Flask, smtp_server: SMTPServer, audience: None
) -> None:
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        assert topic is not None
        campaign = create_campaign(topic, "Nieuws", SOURCE, "News", SOURCE, None)
        public_id = campaign.public_id
    start(app, public_id)
    deliver(app)
    [mail] = [m for m in smtp_server.to("nl@example.be") if m["List-Id"]]
    # Each link leads through the click counter; followed, the text is the one written.
    text = re.sub(r"http://localhost/r/\d+\.[\w-]+", lambda m: _target(app, m[0]), text_of(mail))
    assert PLAIN.strip() in text.replace("\r\n", "\n")
    assert "**" not in text and "](" not in text
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert re.search(r"Met vriendelijke groeten,<br ?/?>\s*Het team", html)
