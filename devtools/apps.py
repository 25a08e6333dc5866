from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Demo data and the scale generator: management commands only, no models, no URLs."""

    name = "devtools"
    label = "devtools"
    verbose_name = "Developer tools (demo data, scale generator)"
