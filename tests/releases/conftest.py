"""A high-risk ML model system, its people, and a GitHub release pushed through ingestion."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.evidence.models import Artifact
from apps.ingest.services import receipt_accept, receipt_parse, source_create
from apps.inventory.models import Environment, System
from tests.ingest.conftest import fixture_bytes

SHA_A = "3484a3fb816e0859fd6e1cea078d76385ff50625"
SHA_B = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"


def release_body(*, sha: str = SHA_A, name: str = "Fraud model 7", author: str = "Codertocat") -> bytes:
    doc = json.loads(fixture_bytes("github/release.published.json"))
    doc = copy.deepcopy(doc)
    doc["release"]["target_commitish"] = sha
    doc["release"]["name"] = name
    doc["release"]["author"]["login"] = author
    doc["sender"]["login"] = author
    return json.dumps(doc).encode()


def push_release(source, body: bytes, key: str):
    receipt, _ = receipt_accept(
        source=source,
        channel="github",
        body=body,
        content_type="application/json",
        event="release",
        delivery_key=key,
        enqueue=False,
    )
    return receipt_parse(receipt_id=receipt.pk)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Seven users per test: the production PBKDF2 cost would dominate the run (logins still work)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    system: System
    source: object
    artifact: Artifact
    owner1: object
    owner2: object
    owner3: object
    author: object  # a risk owner of the system who also wrote the release
    officer: object
    engineer: object
    outsider: object  # a risk owner of another system


@pytest.fixture
def world(db, make_user) -> World:
    system = System.objects.create(
        name="Fraud detection model", slug="fraud-detection", kind="ml_model", risk_tier="high", frameworks=["sr-11-7"]
    )
    Environment.objects.create(system=system, name="prod")
    owner1 = make_user(Role.RISK_OWNER, username="riley")
    owner2 = make_user(Role.RISK_OWNER, username="dana")
    owner3 = make_user(Role.RISK_OWNER, username="sam")
    author = make_user(Role.RISK_OWNER, username="codertocat", email="octocat@github.com")
    officer = make_user(Role.COMPLIANCE_OFFICER, username="casey")
    engineer = make_user(Role.ENGINEER, username="evan")
    outsider = make_user(Role.RISK_OWNER, username="olga")
    system.risk_owners.set([owner1, owner2, owner3, author])
    system.engineering_owners.set([engineer])
    other = System.objects.create(name="Marketing", slug="marketing", risk_tier="low")
    other.risk_owners.set([outsider])
    source = source_create(actor="system:test", kind="github", name="github fraud", system=system).source
    push_release(source, release_body(), "rel-1")
    artifact = Artifact.objects.get(kind="release")
    return World(system, source, artifact, owner1, owner2, owner3, author, officer, engineer, outsider)


@pytest.fixture
def fresh():
    """A re-authentication time within the window."""
    return timezone.now()
