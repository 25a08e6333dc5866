"""Chart styling of risk tiers, shared by every app that draws them (core, so any layer may use it)."""

# One colour per RiskTier value, the same on every chart.
TIER_COLOURS = {"low": "#2e7d32", "medium": "#b26a00", "high": "#c62828", "critical": "#6a1b9a"}
