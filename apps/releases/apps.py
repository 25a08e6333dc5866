from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "apps.releases"
    label = "releases"
    verbose_name = "Release sign-off"

    def ready(self):
        from apps.ledger.scoping import ledger_object_scope_register
        from apps.releases.selectors import signoff_list_for_user

        ledger_object_scope_register("releases.releasesignoff", lambda user: signoff_list_for_user(user=user))
