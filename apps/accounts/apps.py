from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        from apps.accounts.models import User
        from apps.accounts.scoping import can_read_ledger, reads_whole_ledger
        from apps.ledger.readers import LedgerReaders, ledger_readers_register
        from apps.ledger.scoping import ledger_object_scope_register

        # The ledger knows no roles: who reads it, and who reads all of it, is decided here.
        ledger_readers_register(LedgerReaders(may_read=can_read_ledger, reads_everything=reads_whole_ledger))

        # Of the entries about users, a scoped auditor reads only those about themselves.
        ledger_object_scope_register("accounts.user", lambda user: User.objects.filter(pk=user.pk))

        from django.db.models.signals import post_migrate

        from apps.accounts.services import roles_sync

        # Permissions of every app exist only after migrate, so role groups follow them.
        post_migrate.connect(lambda **kwargs: roles_sync(), weak=False, dispatch_uid="roles_sync")

        from django.contrib.auth.signals import user_logged_in

        from apps.accounts.mfa import mfa_remember_enrolment

        user_logged_in.connect(mfa_remember_enrolment, dispatch_uid="mfa_remember_enrolment")
