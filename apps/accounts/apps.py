from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from apps.accounts.models import User
        from apps.ledger.scoping import ledger_object_scope_register

        # Of the entries about users, a scoped auditor reads only those about themselves.
        ledger_object_scope_register("accounts.user", lambda user: User.objects.filter(pk=user.pk))

        from django.db.models.signals import post_migrate

        from apps.accounts.services import roles_sync

        # Permissions of every app exist only after migrate, so role groups follow them.
        post_migrate.connect(lambda **kwargs: roles_sync(), weak=False, dispatch_uid="roles_sync")

        from django.contrib.auth.signals import user_logged_in

        from apps.accounts.mfa import mfa_remember_enrolment

        user_logged_in.connect(mfa_remember_enrolment, dispatch_uid="mfa_remember_enrolment")
