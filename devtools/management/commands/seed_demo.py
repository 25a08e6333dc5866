"""Demo data for `make run`: realistic systems and one user per role. Dev and test only."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import User
from apps.accounts.roles import Role
from apps.accounts.services import user_create, user_set_roles
from apps.inventory.models import System
from apps.inventory.services import system_save
from devtools.demo.connectors import demo_connectors_seed
from devtools.demo.engagements import demo_engagement_seed
from devtools.demo.exceptions import demo_exceptions_seed
from devtools.demo.ingest import demo_evidence_seed
from devtools.demo.manual import demo_manual_seed
from devtools.demo.policy import demo_policy_seed
from devtools.demo.releases import demo_seed as releases_retention_demo_seed

# Demo-only passwords: documented in the README, refused outside the dev and test profiles.
DEMO_USERS = [
    # username, first, last, title, roles
    ("admin", "Alex", "Morgan", "Platform engineer", [Role.ADMIN]),
    ("compliance", "Casey", "Chen", "Compliance officer", [Role.COMPLIANCE_OFFICER]),
    ("riskowner", "Riley", "Okafor", "Head of Model Risk", [Role.RISK_OWNER]),
    ("ciso", "Dana", "Ruiz", "Chief Information Security Officer", [Role.RISK_OWNER]),
    ("engineer", "Evan", "Park", "ML engineer", [Role.ENGINEER]),
    ("auditor", "Ada", "Byrne", "External auditor, Byrne & Partners", [Role.AUDITOR]),
]


def demo_password(username: str) -> str:
    return f"portal-demo-{username}"


DEMO_SYSTEMS = [
    {
        "name": "Credit scoring model",
        "slug": "credit-scoring",
        "kind": System.Kind.ML_MODEL,
        "description": "Gradient-boosted model that scores consumer credit applications; its score "
        "feeds automated approve/decline decisions for loans under 25,000 EUR.",
        "risk_tier": "high",
        "data_classes": ["pii", "financial", "model_output"],
        "frameworks": ["gdpr", "eu-ai-act", "sr-11-7", "soc2"],
        "risk_owners": ["riskowner"],
        "engineering_owners": ["engineer"],
        "environments": ["dev", "staging", "prod"],
    },
    {
        "name": "Clinical records service",
        "slug": "clinical-records",
        "kind": System.Kind.SERVICE,
        "description": "FHIR API over the electronic health record: patient charts, encounters and "
        "lab results for three hospitals.",
        "risk_tier": "critical",
        "data_classes": ["phi", "pii"],
        "frameworks": ["hipaa", "gdpr", "soc2"],
        "risk_owners": ["ciso"],
        "engineering_owners": ["engineer"],
        "environments": ["dev", "staging", "prod"],
    },
    {
        "name": "Fraud detection model",
        "slug": "fraud-detection",
        "kind": System.Kind.ML_MODEL,
        "description": "Real-time card-transaction fraud model; holds suspicious payments for review.",
        "risk_tier": "high",
        "data_classes": ["financial", "pii", "model_output"],
        "frameworks": ["sr-11-7", "soc2", "gdpr"],
        "risk_owners": ["riskowner"],
        "engineering_owners": ["engineer"],
        "environments": ["staging", "prod"],
    },
    {
        "name": "Payments API",
        "slug": "payments-api",
        "kind": System.Kind.SERVICE,
        "description": "Card and SEPA payment initiation for the retail banking apps.",
        "risk_tier": "high",
        "data_classes": ["cardholder", "financial", "pii"],
        "frameworks": ["soc2", "gdpr"],
        "risk_owners": ["ciso"],
        "engineering_owners": ["engineer"],
        "environments": ["dev", "staging", "prod"],
    },
    {
        "name": "Data platform",
        "slug": "data-platform",
        "kind": System.Kind.DATA_PLATFORM,
        "description": "Lakehouse and feature store; source of the training data of every model.",
        "risk_tier": "medium",
        "data_classes": ["pii", "phi", "financial"],
        "frameworks": ["gdpr", "hipaa", "soc2"],
        "risk_owners": ["ciso"],
        "engineering_owners": ["engineer"],
        "environments": ["dev", "prod"],
    },
    {
        "name": "Patient triage model",
        "slug": "patient-triage",
        "kind": System.Kind.ML_MODEL,
        "description": "Ranks emergency-department arrivals by predicted acuity to support triage nurses.",
        "risk_tier": "critical",
        "data_classes": ["phi", "model_output"],
        "frameworks": ["hipaa", "eu-ai-act", "gdpr"],
        "risk_owners": ["riskowner", "ciso"],
        "engineering_owners": ["engineer"],
        "environments": ["staging", "prod"],
    },
    {
        "name": "Marketing website",
        "slug": "marketing-site",
        "kind": System.Kind.SERVICE,
        "description": "Public product pages; no customer data.",
        "risk_tier": "low",
        "data_classes": ["public"],
        "frameworks": ["soc2"],
        "risk_owners": ["ciso"],
        "engineering_owners": ["engineer"],
        "environments": ["prod"],
    },
]


class Command(BaseCommand):
    help = "Load demo users and systems (dev and test profiles only). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--list-logins", action="store_true", help="print the demo logins and exit")

    def handle(self, *args, list_logins, **options):
        if list_logins:
            for username, _first, _last, _title, roles in DEMO_USERS:
                labels = ", ".join(Role(r).label for r in roles)
                self.stdout.write(f"{username:<11} / {demo_password(username):<24} {labels}")
            return
        if not settings.PORTAL_DEMO_DATA:
            raise CommandError("seed_demo refuses to run in the prod profile (demo passwords are public).")
        with transaction.atomic():
            users = self._users()
            admin = users["admin"]
            for spec in DEMO_SYSTEMS:
                spec = dict(spec)
                system = System.objects.filter(slug=spec["slug"]).first() or System()
                for key in ("name", "slug", "kind", "description", "risk_tier", "data_classes", "frameworks"):
                    setattr(system, key, spec[key])
                system_save(
                    actor=admin,
                    system=system,
                    risk_owners=[users[u] for u in spec["risk_owners"]],
                    engineering_owners=[users[u] for u in spec["engineering_owners"]],
                    environments=spec["environments"],
                )
        # Outside the transaction above: parsing commits per receipt, like a worker does.
        new_receipts = demo_evidence_seed(actor=admin)
        new_receipts += demo_connectors_seed(actor=admin)
        self.stdout.write(f"demo data: {len(users)} users, {len(DEMO_SYSTEMS)} systems, {new_receipts} new receipts")

        policy = demo_policy_seed(actor=admin)
        self.stdout.write(f"demo policy: {policy['changed']} results changed, {policy['replayed']} past evaluations")

        manual = demo_manual_seed(users=users)
        self.stdout.write(f"demo documents: {manual['documents']} new, {manual['attestations']} attestations")

        self.stdout.write(f"demo sign-off and retention: {releases_retention_demo_seed(actor=admin)}")

        self.stdout.write(f"demo exceptions: {demo_exceptions_seed(actor=admin)} new")

        opened = demo_engagement_seed(
            compliance=users["compliance"], auditor=users["auditor"], engineer=users["engineer"]
        )
        self.stdout.write(f"demo engagements: {opened} new")

    def _users(self) -> dict[str, User]:
        users = {}
        for username, first, last, title, roles in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    username=username,
                    password=demo_password(username),
                    roles=roles,
                    first_name=first,
                    last_name=last,
                    title=title,
                    email=f"{username}@demo.invalid",
                )
            elif set(user.roles) != set(roles):
                user = user_set_roles(user=user, roles=roles)
            users[username] = user
        return users
