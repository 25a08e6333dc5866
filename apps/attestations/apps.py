from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_requirements(sender, using="default", **kwargs):
    """After every migrate: add the shipped document requirements that are missing."""
    from apps.attestations.services import requirements_load

    requirements_load()


class AttestationsConfig(AppConfig):
    name = "apps.attestations"
    label = "attestations"
    verbose_name = "Manual evidence and attestations"

    def ready(self):
        # policy sits below us and imports nothing from here: we register into its hooks.
        from apps.accounts.scoping import scope_by_system
        from apps.attestations.models import Attestation
        from apps.attestations.selectors import document_list_for_user, manual_control_pks, manual_control_statuses
        from apps.attestations.views import control_panel
        from apps.ledger.scoping import ledger_object_scope_register
        from apps.policy.services import (
            control_panel_register,
            manual_assessment_provider_register,
            manual_status_provider_register,
        )

        # an auditor reads the entries about documents and attestations of the systems they may see
        ledger_object_scope_register("attestations.manualdocument", lambda user: document_list_for_user(user=user))
        ledger_object_scope_register(
            "attestations.attestation", lambda user: scope_by_system(user, Attestation.objects.all())
        )
        manual_assessment_provider_register(manual_control_pks)
        manual_status_provider_register(manual_control_statuses)
        control_panel_register(control_panel)
        # after policy's own post_migrate (the catalogs): the requirements name its controls
        post_migrate.connect(_load_requirements, sender=self, dispatch_uid="attestations-requirements")
