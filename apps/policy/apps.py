from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_policy_data(sender, using="default", **kwargs):
    """After every migrate: the shipped catalogs and the default rule set, idempotently."""
    from apps.policy.services import catalogs_load_shipped, rules_load_default

    # No ledger entries here: this also runs after every test-database flush, and the shipped
    # catalogs and rules are part of the release (the load_catalogs command records its loads).
    catalogs_load_shipped(actor="system:migrate", record=False)
    rules_load_default(actor="system:migrate", record=False)


class PolicyConfig(AppConfig):
    name = "apps.policy"
    label = "policy"
    verbose_name = "Policy"

    def ready(self):
        from apps.accounts.scoping import scope_by_system
        from apps.ledger.scoping import ledger_object_scope_register
        from apps.policy.models import ControlResult

        ledger_object_scope_register(
            "policy.controlresult",
            # select_related: the ledger list names each result (framework, control, system) and links it to
            # its control's page without a query per row
            lambda user: scope_by_system(user, ControlResult.objects.select_related("control__framework", "system")))
        from apps.evidence.selectors import evidence_control_filter_register
        from apps.policy.selectors import control_evidence_ids

        evidence_control_filter_register(control_evidence_ids)
        from apps.pipeline import pipeline_step_register
        from apps.policy.services import policy_evaluate_on_evidence

        # New evidence re-evaluates the controls of what it is about, after commit.
        pipeline_step_register(
            "policy.evaluate",
            lambda *, receipt, evidence, body: policy_evaluate_on_evidence(evidence_ids=[e.pk for e in evidence]),
        )
        post_migrate.connect(_load_policy_data, sender=self, dispatch_uid="policy-load-shipped-data")
