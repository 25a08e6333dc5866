from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_set_roles


class Command(BaseCommand):
    help = "Give a user roles (replacing their roles with --set, or removing with --remove)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("roles", nargs="+", choices=Role.values)
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--remove", action="store_true", help="remove these roles")
        mode.add_argument("--set", action="store_true", help="make these the user's only roles")

    def handle(self, *args, username, roles, remove, set, **options):
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"no user named {username!r}") from None
        if set:
            new_roles = roles
        elif remove:
            new_roles = [role for role in user.roles if role not in roles]
        else:
            new_roles = sorted(user.roles | frozenset(roles))
        user = user_set_roles(user=user, roles=new_roles)
        self.stdout.write(f"{user.username}: {', '.join(sorted(user.roles)) or '(no roles)'}")
