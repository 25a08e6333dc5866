from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    """The shared approval engine (governance layer): no tables of its own."""

    name = "apps.approvals"
    label = "approvals"
    verbose_name = "Approvals"
