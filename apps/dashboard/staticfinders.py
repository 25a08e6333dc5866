"""Serve the charts' Plotly bundle from npm's plotly.js-cartesian-dist-min (no CDN, no copy in the repo).

The partial "cartesian" bundle (1.5 MB) draws every trace type the portal's charts use (bar,
heatmap, scatter; tests/dashboard/test_static_assets.py checks it) where the full plotly.min.js
of the Python package was 4.8 MB. `make venv` and the image build install it with `npm ci`
(package.json, package-lock.json). It keeps the public path templates name,
vendor/plotly/plotly.min.js.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core.checks import Error
from django.core.files.storage import FileSystemStorage

BUNDLE_DIR = Path(settings.BASE_DIR) / "node_modules" / "plotly.js-cartesian-dist-min"
BUNDLE_FILE = "plotly-cartesian.min.js"
PUBLIC_PATH = "vendor/plotly/plotly.min.js"


class _BundleStorage(FileSystemStorage):
    """The package folder, where the bundle is stored under another name than the one we serve."""

    def path(self, name):
        return super().path(BUNDLE_FILE if name == "plotly.min.js" else name)


class PlotlyFinder(BaseFinder):
    """Exposes exactly one file, vendor/plotly/plotly.min.js, and nothing else of the package."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = _BundleStorage(location=str(BUNDLE_DIR))
        self.storage.prefix = "vendor/plotly"

    def check(self, **kwargs):
        if (BUNDLE_DIR / BUNDLE_FILE).is_file():
            return []
        return [Error(f"the chart bundle {BUNDLE_DIR / BUNDLE_FILE} is missing", hint="run `make venv` (npm ci)",
                      id="dashboard.E001")]

    def find(self, path, find_all=False, **kwargs):
        if path != PUBLIC_PATH:
            return [] if find_all else None
        match = str(BUNDLE_DIR / BUNDLE_FILE)
        return [match] if find_all else match

    def list(self, ignore_patterns):
        yield "plotly.min.js", self.storage
