"""The OpenAPI schema is generated from the code; it must come out clean and valid.

drf-spectacular warns when it has to guess (an untyped field, two components of one name, an
enum name collision): a guess is a schema that may not be true to the code, so a warning fails.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_schema_generates_without_warnings_and_validates(tmp_path):
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert text.startswith("openapi: 3.")
    for path in ("/api/v1/ingest/github", "/api/v1/exceptions/{id}/approve", "/api/v1/releases/signoffs/{id}/approve"):
        assert path in text
