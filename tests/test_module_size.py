"""No product module is longer than STYLE.md's limit: past it a module becomes a package."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("apps", "devtools", "compliance_portal")
MAX_LINES = 800  # ../shared/STYLE.md, "Layout": past roughly 800 lines a module becomes a package


def _line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def _modules_over_the_limit(base: Path, names: tuple[str, ...], *, limit: int = MAX_LINES) -> dict[str, int]:
    """Every `.py` file under `base/<name>` (migrations included) longer than `limit`, with its line count."""
    return {
        str(path.relative_to(base)): lines
        for root in (base / name for name in names)
        for path in sorted(root.rglob("*.py"))
        if (lines := _line_count(path)) > limit
    }


def test_no_module_under_apps_devtools_or_compliance_portal_is_longer_than_800_lines():
    offenders = _modules_over_the_limit(ROOT, CHECKED)
    assert offenders == {}, f"split these into packages that re-export their parts: {offenders}"


def test_the_size_check_names_a_module_one_line_past_the_limit_and_spares_one_at_it(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "big.py").write_text("x = 1\n" * 801)
    (tmp_path / "app" / "fine.py").write_text("x = 1\n" * 800)
    assert _modules_over_the_limit(tmp_path, ("app",)) == {"app/big.py": 801}
