from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "apps.evidence"
    label = "evidence"
    verbose_name = "Evidence"

    def ready(self):
        from apps.accounts.scoping import scope_evidence
        from apps.evidence.models import Evidence
        from apps.evidence.selectors import artifact_list_for_user
        from apps.ledger.scoping import ledger_object_scope_register

        ledger_object_scope_register("evidence.evidence", lambda user: scope_evidence(user, Evidence.objects.all()))
        ledger_object_scope_register("evidence.artifact", lambda user: artifact_list_for_user(user=user))
