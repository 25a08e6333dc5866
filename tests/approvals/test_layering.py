"""One approval engine: release sign-off imports nothing from exceptions; the engine imports neither client."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"


def imported_modules(app: str) -> set[str]:
    """Every module an app's code imports (top level or inside functions), migrations included."""
    out = set()
    for path in (APPS / app).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(alias.name for alias in node.names)
    return out


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [("releases", ("apps.exceptions",)), ("approvals", ("apps.exceptions", "apps.releases"))],
)
def test_an_app_imports_nothing_from_the_apps_it_must_not_know(app, forbidden):
    offending = sorted(m for m in imported_modules(app) if m.startswith(forbidden))
    assert offending == []
