"""Attestation fixtures: the policy tests' demo systems (evidence pushed through the real ingestion)."""

from tests.policy.conftest import marketing  # noqa: F401 - re-exported as a fixture
