"""Every text a person can see exists in Dutch and English."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from tests.services import PROJECT_DIR

CATALOGS = PROJECT_DIR / "consentapp" / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted_messages(tmp_path: Path) -> set[str]:
    """Extract the translatable strings from the code and templates as they are now."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=PROJECT_DIR,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return {str(message.id) for message in read_po(handle) if message.id}


def test_dutch_catalog_covers_every_string(tmp_path: Path) -> None:
    with (CATALOGS / "nl" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {str(m.id) for m in catalog if m.id and m.string and not m.fuzzy}
    missing = extracted_messages(tmp_path) - translated
    assert not missing, f"untranslated in nl (run `make messages`): {sorted(missing)}"


@pytest.mark.parametrize("language", ["nl", "en"])
def test_placeholders_survive_translation(language: str) -> None:
    with (CATALOGS / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    for message in catalog:
        if message.id and message.string:
            assert sorted(PLACEHOLDER.findall(str(message.id))) == sorted(
                PLACEHOLDER.findall(str(message.string))
            ), message.id
