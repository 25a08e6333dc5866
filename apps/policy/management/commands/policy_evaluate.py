"""Evaluate rules now (what the nightly beat task does), then refresh today's rollups."""

from django.core.management.base import BaseCommand

from apps.policy.services import coverage_snapshot_catch_up, policy_evaluate


class Command(BaseCommand):
    help = "Evaluate every rule over every subject (or some systems) and refresh today's coverage rollups."

    def add_arguments(self, parser):
        parser.add_argument("--system", type=int, action="append", help="system id (repeatable)")

    def handle(self, *args, system, **options):
        stats = policy_evaluate(system_ids=system, actor="system:policy_evaluate_command")
        coverage_snapshot_catch_up()
        self.stdout.write(
            f"{stats.subjects} subjects and {stats.systems} systems evaluated, {stats.changed} results changed"
        )
