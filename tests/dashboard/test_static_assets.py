"""Issue 23: a Plotly bundle no bigger than the charts need, and static files compressed in every profile."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

from tests.conftest import collect_static

ROOT = Path(__file__).resolve().parents[2]
AXIS_TYPES = {"date", "category", "linear", "log", "multicategory"}


def _trace_types_used() -> set[str]:
    used = set()
    for path in (ROOT / "apps").rglob("charts.py"):
        used |= set(re.findall(r'"type": "(\w+)"', path.read_text())) - AXIS_TYPES
    return used


def test_the_chart_bundle_is_the_cartesian_partial_bundle_and_draws_every_trace_type_used():
    path = Path(finders.find("vendor/plotly/plotly.min.js"))
    text = path.read_text(encoding="utf-8")
    assert path.stat().st_size < 2 * 1024 * 1024  # the full bundle was 4.8 MB
    assert text.startswith("/**\n* plotly.js (cartesian - minified) v")
    registered = set(re.findall(r'moduleType:"trace",name:"(\w+)"', text))
    used = _trace_types_used()
    assert {"bar", "heatmap", "scatter"} <= used  # the scan finds the charts
    assert used <= registered, used - registered


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_collectstatic_writes_compressed_copies_in_every_profile_that_serves_them(request, tmp_path, profile):
    if profile == "dev":  # collected once per session (tests/conftest.py), also served by tests/test_logging.py
        root = request.getfixturevalue("dev_static_root")
    else:
        result = collect_static(profile, tmp_path)
        assert result.returncode == 0, result.stderr
        root = tmp_path
    bundles = sorted(p.name for p in (root / "vendor" / "plotly").iterdir())
    assert any(name.endswith(".js.br") for name in bundles), bundles
    assert any(name.endswith(".js.gz") for name in bundles), bundles
    brotli = next(p for p in (root / "vendor" / "plotly").iterdir() if p.name.endswith(".js.br"))
    assert brotli.stat().st_size < 600 * 1024  # what a browser downloads
    if profile == "prod":
        # Pages name the hashed files only ({% static %} through the manifest; no template, script or
        # stylesheet names a file under /static/ by hand), so the image keeps those and compresses them
        # alone: half the files, half of collectstatic's compression time.
        names = [p.name for p in (root / "vendor" / "plotly").iterdir()]
        assert "plotly.min.js" not in names, names
        assert all(re.fullmatch(r"plotly\.min\.[0-9a-f]{12}\.js(\.br|\.gz)?", n) for n in names), names
