"""The local emulator's SES rate (infra/aws_emulator.py): SendEmail above the rate is
answered as SESv2 answers it (tests/integration/test_ses_rate.py sends through it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.aws_emulator import SEND_PATH, TokenBucket, throttled

pytestmark = pytest.mark.disable_socket


def test_the_bucket_allows_a_second_of_sends_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(14, clock=lambda: now[0])
    assert sum(bucket.take() for _ in range(20)) == 14
    now[0] += 0.5
    assert sum(bucket.take() for _ in range(20)) == 7
    assert (bucket.taken, bucket.refused) == (21, 19)
    assert all(TokenBucket(0).take() for _ in range(1000))


def call(app: Any, method: str, path: str) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path}, start_response))
    return answer["status"], answer["headers"], body


def test_sends_above_the_rate_get_sesv2s_429_and_nothing_else_is_limited() -> None:
    def moto(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"{}"]

    app = throttled(moto, TokenBucket(1, clock=lambda: 0.0))
    assert call(app, "POST", SEND_PATH)[0] == "200 OK"
    status, headers, body = call(app, "POST", SEND_PATH)
    assert status == "429 Too Many Requests"
    assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert json.loads(body) == {"message": "Maximum sending rate exceeded."}
    assert call(app, "POST", "/")[0] == "200 OK"  # SQS, DynamoDB, ...: never limited
    assert call(app, "GET", SEND_PATH)[0] == "200 OK"
