from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _executive_group(sender, using="default", **kwargs):
    """After every migrate: the group that designates executives (critical-tier approvers)."""
    from django.contrib.auth.models import Group

    from apps.exceptions.chain import EXECUTIVE_GROUP

    Group.objects.using(using).get_or_create(name=EXECUTIVE_GROUP)


class ExceptionsConfig(AppConfig):
    name = "apps.exceptions"
    label = "exceptions"
    verbose_name = "Exceptions"

    def ready(self):
        from apps.exceptions.selectors import exception_covering_batch, exception_queryset_for_user
        from apps.ledger.scoping import ledger_object_scope_register
        from apps.policy.providers import coverage_provider_register

        # An approved, unexpired exception turns a failing result into an excepted one: asked once
        # per evaluation batch about all of its failing results.
        coverage_provider_register("exceptions", lambda keys, at: exception_covering_batch(keys=keys, at=at))

        ledger_object_scope_register(
            "exceptions.exceptionrequest", lambda user: exception_queryset_for_user(user=user))
        post_migrate.connect(_executive_group, sender=self, dispatch_uid="exceptions-executive-group")
