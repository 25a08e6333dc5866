"""`apps.formats` is a plain package: bytes in, facts out, no Django, modules of a readable size."""

import ast
import subprocess
import sys
from pathlib import Path

import apps.formats

ROOT = Path(__file__).resolve().parents[2]
FORMATS = Path(apps.formats.__file__).parent
MAX_LINES = 800  # ../shared/STYLE.md: past roughly 800 lines a module becomes a package


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_parsers_live_in_apps_formats_and_not_in_ingest():
    assert (FORMATS / "sarif.py").is_file()
    assert not (ROOT / "apps" / "ingest" / "parsers").exists()


def test_no_formats_module_imports_django_or_another_app():
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in FORMATS.rglob("*.py")
        for name in _imported_modules(path)
        if name.split(".")[0] in ("django", "rest_framework", "celery", "compliance_portal")
        or (name.startswith("apps.") and not name.startswith("apps.formats"))
    }
    assert offenders == set()


def test_importing_every_parser_loads_no_django_module():
    code = (
        "import sys, apps.formats\n"
        "import pkgutil, importlib\n"
        "for m in pkgutil.walk_packages(apps.formats.__path__, 'apps.formats.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n == 'django' or n.startswith('django.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_apps_formats_is_not_a_django_app():
    from django.conf import settings

    assert "apps.formats" not in settings.INSTALLED_APPS
    assert not (FORMATS / "models.py").exists() and not (FORMATS / "apps.py").exists()



def test_no_formats_module_is_longer_than_the_house_limit():
    long = {
        str(path.relative_to(ROOT)): n
        for path in FORMATS.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
