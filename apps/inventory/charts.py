"""Chart styling of risk tiers, shared by every app that draws them (core, so any layer may use it)."""

from apps.common.palette import RISK_TIER

# One colour per RiskTier value, the same on every chart (apps.common.palette holds the pattern too).
TIER_COLOURS = {tier: style.colour for tier, style in RISK_TIER.items()}
