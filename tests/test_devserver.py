"""`make run`'s start-up text: the mailbox address and the ORG_* settings still unset."""

from __future__ import annotations

from pathlib import Path

from consentapp.config import DevelopmentConfig
from consentapp.devserver import MAILBOX_URL, ORG_SETTINGS, org_settings_lines


def test_the_start_up_text_lists_each_org_setting_still_unset_with_its_meaning() -> None:
    text = org_settings_lines({"ORG_EMAIL": "privacy@firma.be"})
    assert "ORG_NAME" in text and "ORG_ADDRESS" in text and "ORG_EMAIL" not in text
    assert all(meaning in text for name, meaning in ORG_SETTINGS if name != "ORG_EMAIL")
    assert org_settings_lines({name: "set" for name, _ in ORG_SETTINGS}) == ""


def test_the_listed_settings_are_the_ones_the_site_shows_placeholders_for(tmp_path: Path) -> None:
    """Every ORG_* setting the configuration reads is listed, and no other."""
    defaults = DevelopmentConfig({"CONSENTAPP_INSTANCE": str(tmp_path)})
    org_names = sorted(name for name in vars(defaults) if name.startswith("ORG_"))
    assert org_names == sorted(name for name, _ in ORG_SETTINGS)
    assert MAILBOX_URL.endswith("/dev/mail")
