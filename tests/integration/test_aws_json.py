"""The JSON-protocol client of the public routes (chalicelib/adapters/aws_json.py, and
DynamoDB's through it, adapters/dynamo/lite.py) against a scripted HTTP server on
127.0.0.1: what it retries (5xx, throttling, a dropped connection) and what it does not
(a failed condition, a validation error), that it signs for its service and keeps its
connection between calls."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.adapters import http11
from chalicelib.adapters.aws_json import AwsError
from chalicelib.adapters.dynamo.lite import ConditionalCheckFailed, LiteDynamoDB
from chalicelib.tracking.ses_transient import is_transient

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
# A step of the script: (status, JSON body), or "drop" (close without answering).
Step = tuple[int, dict[str, Any]] | str


class Scripted(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.script: list[Step] = []
        self.requests: list[dict[str, Any]] = []
        self.connections = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as AWS
    server: Scripted

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append(
            {"headers": dict(self.headers), "body": json.loads(body or b"{}")}
        )
        step = self.server.script.pop(0) if self.server.script else (200, {})
        if isinstance(step, str):  # "drop"
            self.close_connection = True
            return
        status, answer = step
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *_args: Any) -> None:
        return None


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted()
    thread = threading.Thread(target=scripted.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.shutdown()
    scripted.server_close()


def dynamo(server: socketserver.TCPServer) -> LiteDynamoDB:
    host, port = server.server_address[:2]
    return LiteDynamoDB("eu-west-1", f"http://{host!s}:{port}", ENV)


def error(code: str, message: str = "no") -> dict[str, Any]:
    return {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}


def test_a_call_is_signed_for_its_service_and_answers_the_body(server: Scripted) -> None:
    item = {"pk": {"S": "INVOICE#1"}, "sk": {"S": "INVOICE"}}
    server.script = [(200, {"Item": item})]
    answer = dynamo(server).get_item(TableName="sobre", Key=item)
    assert answer == {"Item": item}
    sent = server.requests[0]
    assert sent["body"] == {"TableName": "sobre", "Key": item}
    assert sent["headers"]["X-Amz-Target"] == "DynamoDB_20120810.GetItem"
    assert "/eu-west-1/dynamodb/aws4_request" in sent["headers"]["Authorization"]


def test_the_connection_is_kept_between_calls(server: Scripted) -> None:
    client = dynamo(server)
    for _ in range(3):
        client.query(TableName="sobre")
    assert (len(server.requests), server.connections) == (3, 1)


def test_a_connection_idle_too_long_is_opened_again(
    server: Scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen container's connection may have been dropped by the network meanwhile.
    monkeypatch.setattr(http11, "MAX_IDLE_SECONDS", 0.0)
    client = dynamo(server)
    for _ in range(2):
        client.query(TableName="sobre")
    assert (len(server.requests), server.connections) == (2, 2)


@pytest.mark.parametrize(
    "failure",
    [
        (500, error("InternalServerError")),
        (503, {}),
        (400, error("ThrottlingException", "Rate of requests exceeds the allowed throughput")),
        (400, error("ProvisionedThroughputExceededException")),
        "drop",
    ],
)
def test_what_may_pass_is_tried_again(server: Scripted, failure: Step) -> None:
    server.script = [failure, (200, {"Count": 0, "Items": []})]
    assert dynamo(server).query(TableName="sobre") == {"Count": 0, "Items": []}
    assert len(server.requests) == 2


def test_a_failed_condition_is_botocores_exception_at_once(server: Scripted) -> None:
    server.script = [
        (400, error("ConditionalCheckFailedException", "The conditional request failed"))
    ]
    client = dynamo(server)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as raised:
        client.put_item(TableName="sobre", Item={}, ConditionExpression="attribute_not_exists(pk)")
    assert isinstance(raised.value, ConditionalCheckFailed)
    assert len(server.requests) == 1
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"


def test_an_invalid_request_is_not_tried_again(server: Scripted) -> None:
    server.script = [
        (400, error("ValidationException", "One or more parameter values were invalid"))
    ]
    with pytest.raises(AwsError) as raised:
        dynamo(server).update_item(TableName="sobre", Key={})
    assert len(server.requests) == 1
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not is_transient(raised.value)


def test_after_its_attempts_the_last_failure_is_raised_as_transient(server: Scripted) -> None:
    server.script = [(500, error("InternalServerError"))] * 10
    with pytest.raises(AwsError) as raised:
        dynamo(server).batch_get_item(RequestItems={})
    assert len(server.requests) == 5  # lite.ATTEMPTS
    assert is_transient(raised.value)  # the SES events' and the API's 503 rules see it


def test_nothing_listening_is_a_connection_error() -> None:
    client = LiteDynamoDB("eu-west-1", "http://127.0.0.1:9", ENV)
    with pytest.raises(ConnectionError):
        client.get_item(TableName="sobre", Key={})
