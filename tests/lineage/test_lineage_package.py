"""Lineage is one package of readable modules, served at the same URLs under the same names."""

from pathlib import Path

from django.urls import resolve, reverse

import apps.evidence.lineage

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(apps.evidence.lineage.__file__).parent
MAX_LINES = 800  # ../shared/STYLE.md: past roughly 800 lines a module becomes a package


def test_the_lineage_modules_live_in_one_package():
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == [
        "__init__.py", "api.py", "backfill.py", "chain.py", "impact.py", "stream.py", "svg.py", "views.py", "walk.py",
    ]
    assert list((ROOT / "apps" / "evidence").glob("lineage_*.py")) == []
    assert not (ROOT / "apps" / "evidence" / "lineage.py").exists()


def test_no_lineage_module_is_longer_than_the_house_limit():
    long = {p.name: n for p in PACKAGE.glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_lineage_urls_keep_their_paths_and_names():
    routes = {
        ("evidence:artifact_lineage", (3,)): "/evidence/artifacts/3/lineage/",
        ("evidence-api:artifact-lineage", (3,)): "/api/v1/artifacts/3/lineage",
        ("evidence-api:lineage-path", ()): "/api/v1/lineage/path",
        ("evidence-api:lineage-impact", ()): "/api/v1/lineage/impact",
        ("evidence-api:system-production", ("web",)): "/api/v1/systems/web/production",
    }
    for (name, args), path in routes.items():
        assert reverse(name, args=args) == path
        assert resolve(path).func.__module__.startswith("apps.evidence.lineage.")


def test_the_package_offers_the_selectors_of_walk_and_impact():
    from apps.evidence.lineage import impact, walk

    assert apps.evidence.lineage.lineage_walk is walk.lineage_walk
    assert apps.evidence.lineage.lineage_impact is impact.lineage_impact
    assert apps.evidence.lineage.production_for_system is impact.production_for_system
