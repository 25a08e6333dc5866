"""Demo data and the scale generator are tooling, not product: the prod profile never installs them
and nothing under apps/ imports them (issue 22)."""

import ast
import json
from pathlib import Path

import pytest

from tests.test_deploy_files import _dockerignored
from tests.test_settings import PROD_ENV, _manage

ROOT = Path(__file__).resolve().parent.parent
PRINT_APPS = "import json; from django.conf import settings; print(json.dumps(settings.INSTALLED_APPS))"


def _installed_apps(env: dict[str, str]) -> list[str]:
    result = _manage("shell", "--no-imports", "-c", PRINT_APPS, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _is_tooling(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "devtools" or "demo" in parts or module.startswith("apps.scale")


def test_the_prod_profile_installs_no_devtools_demo_or_scale_app():
    apps = _installed_apps(PROD_ENV)
    assert "apps.accounts" in apps  # the listing is the real one
    assert [app for app in apps if _is_tooling(app)] == []


@pytest.mark.parametrize("profile", ["dev", "test"])
def test_the_dev_and_test_profiles_install_devtools_for_make_run_and_make_bench(profile):
    assert "devtools" in _installed_apps({"PORTAL_PROFILE": profile})


def test_seed_demo_does_not_exist_in_the_prod_profile():
    result = _manage("seed_demo", env=PROD_ENV)
    assert result.returncode != 0
    assert "Unknown command: 'seed_demo'" in result.stderr


def test_no_module_under_apps_imports_devtools_or_a_demo_module():
    offenders = []
    for path in sorted((ROOT / "apps").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names if _is_tooling(name)]
    assert offenders == []


def test_no_demo_module_or_demo_data_lives_under_apps():
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "apps").rglob("*") if "demo" in p.name]
    assert found == []
    assert not (ROOT / "apps" / "scale").exists()


@pytest.mark.parametrize("path", ["devtools/apps.py", "devtools/scale/generator.py", "devtools/demo/data/01.json"])
def test_the_production_image_leaves_devtools_out_of_its_build_context(path):
    assert _dockerignored(path), path
