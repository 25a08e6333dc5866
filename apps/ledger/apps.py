from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "apps.ledger"
    label = "ledger"
    verbose_name = "Tamper-evident ledger"

    def ready(self):
        from apps.ledger import checks  # noqa: F401 - registers ledger.W001 (prod database role)
