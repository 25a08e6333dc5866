"""Designate (or list, or remove) the executives who approve critical-tier exceptions."""

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.exceptions.chain import EXECUTIVE_GROUP
from apps.exceptions.services import exception_executive_set


class Command(BaseCommand):
    help = "Designate executives for critical-tier exception approval (recorded in the ledger)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--add", metavar="USERNAME")
        group.add_argument("--remove", metavar="USERNAME")

    def handle(self, *args, add=None, remove=None, **options):
        name = add or remove
        if name:
            user = User.objects.filter(username=name).first()
            if user is None:
                raise CommandError(f"no user {name!r}")
            exception_executive_set(user=user, designated=bool(add), actor="system:exception_executive")
        for username in User.objects.filter(groups__name=EXECUTIVE_GROUP).values_list("username", flat=True):
            self.stdout.write(username)
