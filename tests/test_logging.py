import json
import logging

import pytest

from compliance_portal.logging import RequestIdFilter, current_request_id


@pytest.mark.django_db
def test_every_response_carries_a_request_id_and_a_safe_incoming_one_is_kept(client):
    generated = client.get("/accounts/login/")["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/accounts/login/", HTTP_X_REQUEST_ID="ci-run-42")["X-Request-ID"] == "ci-run-42"
    hostile = client.get("/accounts/login/", HTTP_X_REQUEST_ID='x"\n{"level":"forged"}')["X-Request-ID"]
    assert "\n" not in hostile and len(hostile) == 32


def test_log_lines_are_json_with_the_request_id():
    from django.conf import settings

    from compliance_portal.logging import _request_id

    formatter_cfg = settings.LOGGING["formatters"]["json"]
    formatter = formatter_cfg["()"]
    module, _, name = formatter.rpartition(".")
    cls = getattr(__import__(module, fromlist=[name]), name)
    fmt = cls(fmt=formatter_cfg["fmt"], rename_fields=formatter_cfg["rename_fields"])
    token = _request_id.set("req-123")
    try:
        record = logging.LogRecord("portal", logging.INFO, __file__, 1, "evidence accepted", None, None)
        RequestIdFilter().filter(record)
        line = json.loads(fmt.format(record))
    finally:
        _request_id.reset(token)
    assert line["request_id"] == "req-123"
    assert line["message"] == "evidence accepted" and line["level"] == "INFO"
    assert current_request_id() == "-"
