from tests.ingest.conftest import ci, github, gitlab, system  # noqa: F401 - fixtures
