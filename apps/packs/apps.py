from django.apps import AppConfig


class PacksConfig(AppConfig):
    name = "apps.packs"
    label = "packs"
    verbose_name = "Evidence packs"

    def ready(self):
        from apps.ledger.scoping import ledger_object_scope_register
        from apps.packs.selectors import pack_list_for_user

        ledger_object_scope_register("packs.pack", lambda user: pack_list_for_user(user=user))
