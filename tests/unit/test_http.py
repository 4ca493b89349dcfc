"""chalicelib/http.py (issue 15, finding 3): bounded JSON, capped error bodies, the
storage limit as a 413, and Sobre's error shape for whatever Chalice answers itself."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chalice.app import Response
from pynamodb.exceptions import PutError

from chalicelib.adapters.aws_json import AwsError
from chalicelib.adapters.dynamo.lite import ConditionalCheckFailed
from chalicelib.adapters.http11 import BrokenAnswer
from chalicelib.errors import ValidationFailed
from chalicelib.http import (
    MAX_ERROR_CHARS,
    MAX_ERROR_DETAILS,
    MAX_JSON_DEPTH,
    error_response,
    json_errors,
    parse_json,
    sobre_errors,
)

pytestmark = pytest.mark.disable_socket


def refusal(raw: bytes) -> list[dict[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        parse_json(raw)
    return list(caught.value.details)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 5_000, 100_000])
def test_json_nested_too_deep_is_a_validation_error(depth: int) -> None:
    [problem] = refusal(b"[" * depth + b"]" * depth)
    assert f"deeper than {MAX_JSON_DEPTH}" in problem["message"]


def test_json_at_the_depth_limit_is_read() -> None:
    raw = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(raw) is not None


def test_a_deep_value_is_named_by_its_path() -> None:
    value: Any = {}
    for _ in range(MAX_JSON_DEPTH):
        value = {"a": value}
    [problem] = refusal(json.dumps({"metadata": value}).encode())
    assert problem["field"].startswith("metadata.a.a")


def test_a_lone_surrogate_is_named_by_its_path() -> None:
    raw = b'{"recipients": [{"email": "a@b.example"}, {"name": "\\ud800"}]}'
    [problem] = refusal(raw)
    assert problem == {
        "field": "recipients[1].name",
        "message": "holds U+D800, a lone surrogate, which is not text",
    }
    assert refusal(b'{"\\udfff": 1}')[0]["field"] == "\udfff"


@pytest.mark.parametrize("raw", [b"NaN", b'{"total": Infinity}', b"[-Infinity]", b"\xff", b"{"])
def test_what_is_not_json_is_refused(raw: bytes) -> None:
    assert refusal(raw)[0]["field"] == ""


def body_of(response: Response) -> dict[str, Any]:
    assert isinstance(response.body, dict)
    return response.body


def test_error_bodies_list_the_first_problems_and_count_the_rest() -> None:
    details = [{"field": "k" * 10_000, "message": f"problem {i}"} for i in range(5_000)]
    response = error_response(400, "validation_failed", "The invoice is not valid.", details)
    error = body_of(response)["error"]
    assert len(error["details"]) == MAX_ERROR_DETAILS
    assert error["omitted"] == 5_000 - MAX_ERROR_DETAILS
    assert f"{5_000 - MAX_ERROR_DETAILS} more" in error["message"]
    assert all(len(d["field"]) == MAX_ERROR_CHARS for d in error["details"])
    assert len(json.dumps(response.body)) < 10_000


def test_a_short_error_has_no_omitted_count() -> None:
    error = body_of(error_response(404, "not_found", "No such invoice."))["error"]
    assert error == {"code": "not_found", "message": "No such invoice.", "details": None}


def too_large() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "ValidationException",
                "Message": "Item size has exceeded the maximum allowed size",
            }
        },
        "PutItem",
    )


@pytest.mark.parametrize(
    "failure",
    [too_large, lambda: PutError("Failed to put item", too_large())],
    ids=["botocore", "pynamodb"],
)
def test_an_item_too_large_to_store_is_a_413_not_a_retry(failure: Any) -> None:
    @json_errors
    def view() -> Response:
        raise failure()

    response = view()
    assert response.status_code == 413
    assert body_of(response)["error"]["code"] == "payload_too_large"
    assert "Retry-After" not in response.headers


def light_too_large() -> AwsError:
    message = "Item size has exceeded the maximum allowed size"
    return AwsError(400, "ValidationException", message, {})


def test_the_light_clients_too_large_is_a_413_too() -> None:
    @json_errors
    def view() -> Response:
        raise light_too_large()

    assert view().status_code == 413


@pytest.mark.parametrize(
    "failure",
    [
        lambda: AwsError(500, "InternalServerError", "", {}),
        lambda: ConditionalCheckFailed(400, "ConditionalCheckFailedException", "", {}),
        lambda: BrokenAnswer("the server closed the connection"),
        lambda: ConnectionRefusedError(111, "Connection refused"),
        lambda: TimeoutError("timed out"),
    ],
    ids=["5xx after retries", "a condition no store caught", "broken", "refused", "timeout"],
)
def test_an_aws_call_of_the_light_client_that_failed_is_a_503(failure: Any) -> None:
    @json_errors
    def view() -> Response:
        raise failure()

    response = view()
    assert response.status_code == 503
    assert body_of(response)["error"]["code"] == "unavailable"


def test_a_bug_is_still_a_500() -> None:
    @json_errors
    def view() -> Response:
        raise KeyError("recipients")

    assert view().status_code == 500


def test_chalices_own_answers_get_sobres_shape() -> None:
    def chalice_405(_: Any) -> Response:
        return Response(
            body={"Code": "MethodNotAllowedError", "Message": "Unsupported method: PUT"},
            status_code=405,
            headers={"Allow": "POST, GET"},
        )

    response = sobre_errors(None, chalice_405)  # type: ignore[arg-type]
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST, GET"
    assert body_of(response)["error"]["code"] == "method_not_allowed"


def test_an_exception_outside_any_view_is_sobres_500() -> None:
    def broken(_: Any) -> Response:
        raise RuntimeError("a middleware failed")

    response = sobre_errors(None, broken)  # type: ignore[arg-type]
    assert response.status_code == 500
    assert body_of(response)["error"]["code"] == "internal"
