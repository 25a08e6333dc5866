from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "apps.inventory"
    label = "inventory"
    verbose_name = "Systems under governance"

    def ready(self):
        from apps.inventory.selectors import system_list_for_user
        from apps.ledger.scoping import ledger_object_scope_register

        ledger_object_scope_register("inventory.system", lambda user: system_list_for_user(user=user))
