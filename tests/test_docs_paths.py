"""docs/architecture.md names only paths that exist, so the map cannot drift from the tree.

Every `apps/...`, `devtools/...`, `compliance_portal/...`, `templates/...` and `tests/...` path the
page names must exist, as a file or a directory, with or without `.py`: a module that grows into a
package of the same name (`apps/policy/services.py` -> `apps/policy/services/`) still matches.
A test named as `tests/x.py::test_name` must also define that test. Placeholders (`<app>`, `*`,
`{a,b}`) are not paths and are skipped.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# A path starts at one of the top-level folders and runs over path characters; it may not end in
# punctuation that closes the sentence around it ("see apps/ledger/verify.py.").
PATH = re.compile(r"(?<![\w./-])((?:apps|devtools|compliance_portal|templates|tests)/[\w./<>*{},-]*[\w/>*}])")
NODE_ID = re.compile(r"(?<![\w./-])(tests/[\w/]+\.py)::(\w+)")


def named_paths(text: str) -> set[str]:
    """The concrete paths a text names (placeholders left out)."""
    return {path for path in PATH.findall(text) if not re.search(r"[<>*{}]", path)}


def path_exists(path: str, root: Path = ROOT) -> bool:
    """Whether `path` is a file or directory under root, allowing a module to be a package or vice versa."""
    path = path.rstrip("/")
    candidates = [path, f"{path}.py"]
    if path.endswith(".py"):
        candidates.append(path.removesuffix(".py"))
    return any((root / candidate).exists() for candidate in candidates)


def missing_paths(text: str, root: Path = ROOT) -> list[str]:
    """The paths a text names that do not exist under root, sorted."""
    return sorted(path for path in named_paths(text) if not path_exists(path, root))


def missing_tests(text: str, root: Path = ROOT) -> list[str]:
    """The `tests/x.py::name` node ids a text names whose file does not define `name`."""
    missing = []
    for path, name in sorted(set(NODE_ID.findall(text))):
        file = root / path
        if not file.is_file() or not re.search(rf"^\s*(?:async )?def {name}\(", file.read_text(), re.M):
            missing.append(f"{path}::{name}")
    return missing


def test_every_path_the_architecture_page_names_exists():
    assert missing_paths(ARCHITECTURE.read_text()) == []


def test_every_test_the_architecture_page_names_is_defined():
    assert missing_tests(ARCHITECTURE.read_text()) == []


def test_the_architecture_page_names_the_layers_apps():
    # a map that names no code would pass the two tests above trivially
    text = ARCHITECTURE.read_text()
    for app in ("apps/ledger", "apps/formats", "apps/ingest", "apps/pipeline", "apps/policy", "apps/packs"):
        assert app in text


def test_a_missing_path_is_reported_and_a_module_turned_package_is_not(tmp_path):
    (tmp_path / "apps" / "policy" / "services").mkdir(parents=True)
    (tmp_path / "apps" / "ledger").mkdir(parents=True)
    (tmp_path / "apps" / "ledger" / "verify.py").write_text("")
    text = (
        "See apps/ledger/verify.py, apps/ledger/verify and apps/policy/services.py (now a package); "
        "apps/ledger/gone.py is stale, and `templates/<app>/` and tests/*/ are placeholders."
    )
    assert missing_paths(text, tmp_path) == ["apps/ledger/gone.py"]


def test_a_named_test_that_is_not_defined_is_reported(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_kept():\n    pass\n")
    text = "Pinned by tests/test_x.py::test_kept and tests/test_x.py::test_renamed."
    assert missing_tests(text, tmp_path) == ["tests/test_x.py::test_renamed"]
