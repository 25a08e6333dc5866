from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.urls import reverse


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class DataClass(models.TextChoices):
    PHI = "phi", "PHI (health)"
    PII = "pii", "PII (personal)"
    FINANCIAL = "financial", "Financial"
    CARDHOLDER = "cardholder", "Cardholder (PCI)"
    CREDENTIALS = "credentials", "Credentials and secrets"
    MODEL_OUTPUT = "model_output", "Automated decisions"
    PUBLIC = "public", "Public"


class FrameworkCode(models.TextChoices):
    """Frameworks a system can be in scope for; the policy app carries their controls."""

    HIPAA = "hipaa", "HIPAA Security Rule"
    GDPR = "gdpr", "GDPR"
    SOC2 = "soc2", "SOC 2"
    EU_AI_ACT = "eu-ai-act", "EU AI Act"
    SR_11_7 = "sr-11-7", "SR 11-7"


class System(models.Model):
    """A service or ML model under governance: the unit of scoping for access and evidence."""

    class Kind(models.TextChoices):
        SERVICE = "service", "Service"
        ML_MODEL = "ml_model", "ML model"
        DATA_PLATFORM = "data_platform", "Data platform"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SERVICE)
    description = models.TextField(blank=True)
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices, default=RiskTier.MEDIUM)
    data_classes = ArrayField(
        models.CharField(max_length=20, choices=DataClass.choices), default=list, blank=True
    )
    frameworks = ArrayField(
        models.CharField(max_length=20, choices=FrameworkCode.choices), default=list, blank=True
    )
    engineering_owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="engineering_systems", blank=True
    )
    risk_owners = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="risk_owned_systems", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(risk_tier__in=RiskTier.values),
                name="system_risk_tier_valid",
                violation_error_message="Risk tier must be low, medium, high or critical.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("inventory:detail", kwargs={"slug": self.slug})

    def get_data_classes_display(self) -> list[str]:
        return [DataClass(value).label for value in self.data_classes if value in DataClass.values]

    def get_frameworks_display(self) -> list[str]:
        return [FrameworkCode(value).label for value in self.frameworks if value in FrameworkCode.values]


class Environment(models.Model):
    """Where a system runs: dev, staging or prod (deployments and gates refer to these)."""

    class Name(models.TextChoices):
        DEV = "dev", "Development"
        STAGING = "staging", "Staging"
        PROD = "prod", "Production"

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=20, choices=Name.choices)
    url = models.URLField(blank=True)
    region = models.CharField(max_length=40, blank=True, help_text="Cloud region or data centre.")

    class Meta:
        ordering = ["system__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "name"],
                name="environment_unique_per_system",
                violation_error_message="This system already has that environment.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.system.slug}/{self.name}"
