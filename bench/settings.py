"""Settings for benchmark servers: the portal's own, plus a bare view to compare against."""

from compliance_portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405 - access logs would measure the terminal
