from django.apps import AppConfig


class ReleasesConfig(AppConfig):
    name = "apps.releases"
    label = "releases"
    verbose_name = "Release sign-off"

    def ready(self):
        from apps.ledger.scoping import ledger_object_scope_register
        from apps.pipeline import pipeline_step_register
        from apps.policy.providers import gate_item_provider_register
        from apps.releases.selectors import signoff_list_for_user
        from apps.releases.services import release_gate_items, release_track_evidence

        # A classified release needs its sign-off chain complete, for the digest shipped, at the gate.
        gate_item_provider_register("releases", release_gate_items)

        ledger_object_scope_register("releases.releasesignoff", lambda user: signoff_list_for_user(user=user))
        # CI metadata naming a change class asks for sign-off, as the evidence is recorded.
        pipeline_step_register(
            "releases.track", lambda *, receipt, evidence, body: release_track_evidence(evidence=evidence)
        )
