from django.apps import AppConfig


class EngagementsConfig(AppConfig):
    name = "apps.engagements"
    label = "engagements"
    verbose_name = "Audit engagements"

    def ready(self):
        from apps.accounts.scoping import auditor_grants_provider_register
        from apps.engagements.models import EvidenceRequest, Sample
        from apps.engagements.selectors import auditor_grants_from_engagements, engagement_list_for_user
        from apps.ledger.scoping import ledger_object_scope_register

        # An auditor sees the systems of their open engagements: accounts' scoping asks this app.
        auditor_grants_provider_register(auditor_grants_from_engagements)

        def open_engagements(user):
            return engagement_list_for_user(user=user).order_by().values("pk")

        ledger_object_scope_register("engagements.engagement", lambda user: engagement_list_for_user(user=user))
        ledger_object_scope_register(
            "engagements.evidencerequest",
            lambda user: EvidenceRequest.objects.filter(engagement__in=open_engagements(user)),
        )
        ledger_object_scope_register(
            "engagements.sample", lambda user: Sample.objects.filter(engagement__in=open_engagements(user)))
