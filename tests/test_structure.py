"""The code keeps its shape: short views, modest modules, blueprints that stand alone."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "consentapp"
BLUEPRINTS = ("staff", "public", "subscriptions", "rights", "webhooks", "api", "embed", "devmail")
MAX_FUNCTION_LINES = 30
MAX_MODULE_LINES = 400


def _blueprint_modules() -> list[Path]:
    return sorted(path for name in BLUEPRINTS for path in (PACKAGE / name).glob("*.py"))


def _functions(path: Path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_no_view_function_longer_than_30_lines() -> None:
    """Counted from the def line to the last line: a view validates, calls a service, renders."""
    too_long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)"
        for path in _blueprint_modules()
        for node in _functions(path)
        if (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    ]
    assert not too_long, too_long


def test_no_package_module_longer_than_400_lines() -> None:
    too_long = [
        f"{path.relative_to(PACKAGE.parent)} ({count} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not too_long, too_long


def test_blueprints_never_import_each_other() -> None:
    """What two blueprints share lives outside both (e.g. consentapp/subscribe_form.py)."""
    crossing = []
    for path in _blueprint_modules():
        own = path.parent.name
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                parts = [*name.split("."), ""]
                if parts[0] == "consentapp" and parts[1] in BLUEPRINTS and parts[1] != own:
                    crossing.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert not crossing, crossing
