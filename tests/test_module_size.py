"""No module of the product is over 800 lines (STYLE.md: past that, a module becomes a package).

A package re-exports its parts (`apps/policy/services/__init__.py`), so splitting one never
changes its callers. Migrations are generated and exempt.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 800


def test_no_module_of_the_product_is_over_800_lines():
    too_long = {}
    for folder in ("apps", "compliance_portal"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                too_long[path.relative_to(ROOT).as_posix()] = lines
    assert not too_long, f"split these into packages (at most {MAX_LINES} lines a module): {too_long}"
