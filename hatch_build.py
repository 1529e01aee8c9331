"""Wheel build hook: compile the translation catalogs into the wheel.

The compiled `.mo` files are not kept in git, so a wheel built without this step would
show English text on Dutch pages. Each `messages.po` is compiled with Babel into a
temporary folder and force-included at its place in the package, so a wheel built from a
fresh checkout or from the sdist speaks Dutch as installed. A catalog with errors fails
the build instead of shipping a broken translation.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

CATALOGS = Path("consentapp") / "translations"


class CatalogBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compile `consentapp/translations/*/LC_MESSAGES/*.po` into the wheel."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            # An editable install runs from the checkout: `make catalogs` compiles there.
            return
        self._compiled = Path(tempfile.mkdtemp(prefix="consentapp-catalogs-"))
        sources = sorted((Path(self.root) / CATALOGS).glob("*/LC_MESSAGES/*.po"))
        if not sources:
            raise RuntimeError(f"no translation catalogs found under {CATALOGS}")
        for po_path in sources:
            relative = po_path.relative_to(self.root).with_suffix(".mo")
            target = self._compiled / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            compile_catalog(po_path, target)
            build_data["force_include"][str(target)] = relative.as_posix()

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        compiled = getattr(self, "_compiled", None)
        if compiled is not None:
            shutil.rmtree(compiled, ignore_errors=True)


def compile_catalog(po_path: Path, mo_path: Path) -> None:
    """Write `mo_path` from `po_path` as `pybabel compile` does (fuzzy entries left out)."""
    locale = po_path.parent.parent.name
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    problems = [
        f"{po_path}: {message.id!r}: {error}"
        for message, errors in catalog.check()
        for error in errors
    ]
    if problems:
        raise RuntimeError("translation catalog errors:\n" + "\n".join(problems))
    with mo_path.open("wb") as mo_file:
        write_mo(mo_file, catalog, use_fuzzy=False)
