""" "Embed on your site": the ready HTML form for the company's own website."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import force_locale

from consentapp.i18n import current_language, supported_languages
from consentapp.models import Topic
from consentapp.request_checks import embed_origins
from consentapp.services.embed import altcha_required
from consentapp.services.topics import active_topics
from consentapp.staff import bp


def snippet(language: str, topics: list[Topic], altcha: bool) -> str:
    """The HTML a web editor pastes into a page of the company's site, in `language`."""
    with force_locale(language):
        return render_template(
            "staff/embed_snippet.html",
            language=language,
            topics=[(topic.slug, topic.label(language)) for topic in topics],
            base=current_app.config["BASE_URL"],
            origins=embed_origins(),
            altcha=altcha,
        ).strip()


@bp.get("/embed")
def embed_form() -> str:
    """The snippet for the topics chosen (all of them at first), in every language."""
    topics = active_topics()
    wanted = set(request.args.getlist("topics"))
    chosen = [topic for topic in topics if topic.slug in wanted] or topics
    altcha = altcha_required()
    return render_template(
        "staff/embed.html",
        topics=topics,
        chosen={topic.slug for topic in chosen},
        snippets=[(lang, snippet(lang, chosen, altcha)) for lang in supported_languages()],
        origins=embed_origins(),
        altcha=altcha,
        language=current_language(),
    )
