from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "apps.retention"
    label = "retention"
    verbose_name = "Retention, legal holds and data minimisation"

    def ready(self):
        from apps.ingest.hooks import BodyRedactor, body_redactor_register, lock_days_provider_register
        from apps.pipeline import pipeline_step_register
        from apps.retention.policy import retention_policy
        from apps.retention.services import (
            evidence_identifiers_flag,
            ingest_redact,
            receipt_redaction_record,
            redaction_ledger_data,
        )

        # Data minimisation: a system's redaction rules run on every accepted body before it is stored.
        body_redactor_register(
            BodyRedactor(redact=ingest_redact, ledger_data=redaction_ledger_data, record=receipt_redaction_record)
        )

        def shortest_days() -> int:
            policy = retention_policy()
            return min([policy.default_days, *(s.days for s in policy.schedules)])

        # Stored bodies are object-locked no longer than the shortest period retention keeps anything.
        lock_days_provider_register(shortest_days)
        pipeline_step_register(
            "retention.identifiers",
            lambda *, receipt, evidence, body: evidence_identifiers_flag(receipt=receipt, evidence=evidence, body=body),
        )
