"""Integration fixtures: a moto server (a separate process speaking the AWS wire
protocol) per test session, reset before every test, and Chalice's test client. The
client drains the send queue into the ``sender`` function after every request, as
Lambda's event source would a moment later (``drain_sends``), so a test reads what a
client reads once the queued sends went out; the answer itself is the request's."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import container
from chalicelib.accounts import service as account_service
from chalicelib.adapters.dynamo import accounts as dynamo_accounts
from chalicelib.adapters.dynamo import models
from chalicelib.core.model import utc_now
from chalicelib.settings import get_settings
from infra.local_stack import create_send_queue, create_table, provision_messaging
from infra.sqs_bridge import SENDER_FUNCTION, SqsPoller
from tests.emulators import aws_environment, moto_server
from tools.local_mail import LocalMessage, messages

SENDER = "billing@example.com"
TRACKING_BASE = "https://track.example.com"
# A person's mail client (Apple Mail on macOS): opens with it count as a person's.
HUMAN_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
)
HUMAN = {"User-Agent": HUMAN_UA}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def reset_caches() -> None:
    get_settings.cache_clear()
    container.context.cache_clear()
    container.guard.cache_clear()  # the rate limits' memory (a blocked network)
    for model in models.MODELS:
        model._connection = None  # pynamodb caches its client (and endpoint) per model


@dataclass
class Stack:
    endpoint: str
    topic_arn: str
    send_queue_url: str = ""


def use_endpoint(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    for name, value in aws_environment(endpoint).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SOBRE_TOKEN_SECRET", "integration-test-secret-0123456789")
    monkeypatch.setenv("SOBRE_BASE_URL", TRACKING_BASE)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Sobre")
    # As the local stage (.chalice/config.json): tests that hammer one key measure
    # storage, not the per-key limit (unit-tested in tests/unit).
    monkeypatch.setenv("SOBRE_KEY_REQUESTS_PER_SECOND", "100000")
    monkeypatch.setenv("SOBRE_SES_SEND_RATE", "0")  # moto takes any rate: unpaced
    reset_caches()


@pytest.fixture
def stack(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    use_endpoint(monkeypatch, moto_url)
    create_table("sobre", "us-east-1")
    topic_arn = provision_messaging("us-east-1", "sobre", (SENDER,))
    send_queue_url = create_send_queue("us-east-1")
    monkeypatch.setenv("SOBRE_SEND_QUEUE_URL", send_queue_url)
    reset_caches()
    yield Stack(moto_url, topic_arn, send_queue_url)
    reset_caches()


def drain_sends(test_client: Client, queue_url: str) -> int:
    """Run every visible message of the send queue through the ``sender`` function (as
    its SQS event source does: receive counts, partial batch failures); how many."""
    poller = SqsPoller(
        lambda event: test_client.lambda_.invoke(SENDER_FUNCTION, event).payload,
        queue_url,
        "us-east-1",
        function=SENDER_FUNCTION,
    )
    total = 0
    while received := poller.poll_once(wait_seconds=0):
        total += received
    return total


@pytest.fixture
def client(stack: Stack) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as test_client:
        request = test_client.http.request

        def request_then_send(*args: Any, **kwargs: Any) -> Any:
            response = request(*args, **kwargs)
            try:
                drain_sends(test_client, stack.send_queue_url)
            except Exception as exc:  # a test that cut AWS off: no event source either
                print(f"send queue not drained: {exc!r}")
            return response

        test_client.http.request = request_then_send  # type: ignore[method-assign]
        yield test_client


def make_key(account: str, sender: str | None = SENDER) -> str:
    settings = get_settings()
    models.configure(settings.table_name, settings.aws_region)
    return account_service.create_api_key(
        dynamo_accounts.DynamoAccountStore(), utc_now(), account, sender
    )


@pytest.fixture
def api_key(stack: Stack) -> str:
    return make_key("acme")


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def invoice_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": "INV-2026-001",
        "customer": {"name": "Globex S.L."},
        "recipients": [
            {"email": "ana@globex.example", "name": "Ana"},
            {"email": "luis@globex.example"},
        ],
        "currency": "EUR",
        "total": "1210.00",
        "due_date": "2026-12-31",
        "lines": [{"description": "Consulting", "quantity": "10", "unit_price": "121.00"}],
    }
    body.update(overrides)
    return body


def post_invoice(client: Client, key: str, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.http.post("/invoices", headers={**auth(key), **headers}, body=raw)


def sns_event(*messages: str) -> dict[str, Any]:
    """A Lambda SNS event with one record per message, as SNS delivers it."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sobre-ses-events:x",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"00000000-0000-0000-0000-{index:012d}",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:sobre-ses-events",
                    "Subject": None,
                    "Message": message,
                    "Timestamp": "2026-11-29T12:00:00.000Z",
                    "MessageAttributes": {},
                },
            }
            for index, message in enumerate(messages)
        ]
    }


def invoke_sns(client: Client, *messages: str) -> Any:
    return client.lambda_.invoke("ses_events", sns_event(*messages)).payload


def pixel_path(message: LocalMessage) -> str:
    """The path of the message's tracking pixel (the base URL is the tests')."""
    url = message.pixel_url()
    assert url is not None, "no pixel in the HTML part"
    assert url.startswith(TRACKING_BASE), url
    return url.removeprefix(TRACKING_BASE)


def html_of(message: LocalMessage) -> str:
    html = message.html()
    assert html is not None, "no HTML part"
    return html


def sent_messages(stack: Stack) -> list[LocalMessage]:
    """What SES (moto) accepted, read from moto's own inspection endpoint."""
    return messages(stack.endpoint)


def message_to(stack: Stack, address: str) -> LocalMessage:
    matches = [m for m in sent_messages(stack) if m.to == address]
    assert len(matches) == 1, f"expected one message to {address}, got {len(matches)}"
    return matches[0]


def sent_view(client: Client, key: str, invoice_id: str) -> dict[str, Any]:
    """What ``POST /invoices`` answered, as it stands once its queued sends ran (read
    from the invoice's detail): the answer itself has every recipient ``queued``."""
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    return {
        "id": detail["id"],
        "number": detail["number"],
        "status": detail["status"],
        "recipients": [
            {
                "id": r["id"],
                "email": r["email"],
                "status": r["status"],
                "message_id": r["message_id"],
                "error": (r["failure"] or {}).get("reason") if r["status"] == "failed" else None,
                "sending": False,
            }
            for r in detail["recipients"]
        ],
    }


def run_sender(ctx: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The ``sender`` function's handler on an SQS event, over ``ctx``, as Lambda calls
    it (without Chalice's test client, which swaps os.environ around each invoke)."""
    from chalicelib.sending import sender

    received = [
        sender.Received(
            r["messageId"],
            r["body"],
            r["receiptHandle"],
            int(r["attributes"].get("ApproximateReceiveCount", 1)),
        )
        for r in event["Records"]
    ]
    again = sender.run_batch(ctx, received)
    return {"batchItemFailures": [{"itemIdentifier": m} for m in again]}


def send_with(ctx: Any, account: Any, body: dict[str, Any]) -> Any:
    """``POST /invoices`` as a use case over ``ctx`` (a fixed clock, say), then its
    queued sends run by the sender over the same ``ctx`` (as SQS's event source would,
    with that clock): the invoice as stored after both."""
    from chalicelib.sending import service as sending_service

    queued = sending_service.send_invoice(ctx, account, body, None).invoice
    poller = SqsPoller(
        lambda event: run_sender(ctx, event), get_settings().send_queue_url or "", "us-east-1"
    )
    while poller.poll_once(wait_seconds=0):
        pass
    return ctx.invoices.get(queued.id)
