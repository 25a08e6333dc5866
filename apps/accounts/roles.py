"""The five roles of the portal and the Django permissions each one carries.

A role is a Django group of the same name; this table is the one place that says what a
role may do. `roles_sync()` applies it after every migrate.
"""

from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Platform admin"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    RISK_OWNER = "risk_owner", "Risk owner"
    ENGINEER = "engineer", "Engineer"
    AUDITOR = "auditor", "Auditor"


_READ_INVENTORY = ["inventory.view_system", "inventory.view_environment"]

# "*" means every permission that exists (the platform admin).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.ADMIN: ["*"],
    Role.COMPLIANCE_OFFICER: _READ_INVENTORY
    + [
        "inventory.add_system",
        "inventory.change_system",
        "inventory.add_environment",
        "inventory.change_environment",
        "inventory.delete_environment",
        "accounts.view_user",
    ],
    Role.RISK_OWNER: _READ_INVENTORY,
    Role.ENGINEER: _READ_INVENTORY,
    Role.AUDITOR: _READ_INVENTORY,
}
