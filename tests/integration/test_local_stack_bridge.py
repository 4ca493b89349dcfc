"""SNS → Lambda in the local stack (infra/sns_bridge.py): moto in server mode POSTs to
the bridge's HTTP subscription, and the bridge calls the handler with the event Lambda
would get. Then the whole chain: emulated SES events reach the app and change it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.settings import get_settings
from infra.outbox import Outbox, make_server
from infra.ses_emulator import SesEventEmulator, SesIdentity, sns_publisher, sobre_tags
from infra.sns_bridge import SnsBridge, app_invoker, lambda_record, subscribe
from tests.integration.conftest import FIXTURES, Stack, auth, invoice_body, post_invoice
from tools.local_mail import SobreLookup, messages

SES_FIXTURES = FIXTURES / "ses-events"
SIM = "simulator.amazonses.com"


def fixture(name: str) -> Any:
    return json.loads((SES_FIXTURES / name).read_text())


@contextmanager
def serving(stack: Stack, bridge: SnsBridge) -> Iterator[ThreadingHTTPServer]:
    """The outbox server with ``bridge`` on ``POST /sns``, subscribed to the topic."""
    server = make_server(0, Outbox(stack.endpoint, None), bridge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/sns"
    bridge.subscription_arn = subscribe(stack.topic_arn, endpoint, "us-east-1")
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorded(stack: Stack) -> Iterator[tuple[SnsBridge, list[dict[str, Any]]]]:
    events: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> Any:
        events.append(event)
        return {"processed": 1}

    bridge = SnsBridge(invoke)
    with serving(stack, bridge):
        yield bridge, events


def test_moto_posts_to_the_http_subscriber_and_the_handler_gets_a_lambda_event(
    stack: Stack, recorded: tuple[SnsBridge, list[dict[str, Any]]]
) -> None:
    bridge, events = recorded
    sns = boto3.client("sns", region_name="us-east-1")
    subscription = sns.get_subscription_attributes(SubscriptionArn=bridge.subscription_arn)
    assert subscription["Attributes"]["PendingConfirmation"] == "false"  # no handshake in moto

    message_id = sns.publish(TopicArn=stack.topic_arn, Message='{"hello": 1}', Subject="Hi")[
        "MessageId"
    ]
    sns.publish(TopicArn=stack.topic_arn, Message="second")
    bridge.join()

    assert len(events) == 2
    real = fixture("lambda-sns-classic-delivery-real.lambda-local.json")["Records"][0]
    first = events[0]["Records"]
    assert len(first) == 1
    record = first[0]
    assert set(record) == set(real)
    assert set(record["Sns"]) == set(real["Sns"])
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"] == bridge.subscription_arn
    sns_record = record["Sns"]
    assert sns_record["Type"] == "Notification"
    assert sns_record["MessageId"] == message_id
    assert sns_record["TopicArn"] == stack.topic_arn
    assert sns_record["Message"] == '{"hello": 1}'
    assert sns_record["Subject"] == "Hi"
    assert sns_record["MessageAttributes"] == {}
    assert sns_record["SigningCertUrl"].startswith("https://sns.us-east-1.amazonaws.com/")
    assert events[1]["Records"][0]["Sns"]["Subject"] is None  # as Lambda shows "no subject"


def test_the_lambda_record_renames_what_lambda_renames() -> None:
    http_body = fixture("sns-http-event-bounce-permanent-gmail.spatie.json")
    record = lambda_record(http_body, "arn:aws:sns:eu-central-1:938667925736:mailcoach:x")
    sns = record["Sns"]
    assert sns["SigningCertUrl"] == http_body["SigningCertURL"]
    assert sns["UnsubscribeUrl"] == http_body["UnsubscribeURL"]
    assert sns["Message"] == http_body["Message"]
    real = fixture("lambda-sns-envelope.powertools.json")["Records"][0]
    assert set(record) == set(real)
    assert set(sns) == set(real["Sns"])


def test_confirmations_are_confirmed_and_nonsense_is_refused() -> None:
    confirmed: list[tuple[str, str]] = []
    invoked: list[Any] = []
    bridge = SnsBridge(invoked.append, confirm=lambda arn, token: confirmed.append((arn, token)))
    body = fixture("sns-http-subscription-confirmation.spatie.json")
    assert bridge.receive(json.dumps(body).encode(), {}) == 200
    assert confirmed == [(body["TopicArn"], body["Token"])]
    assert bridge.receive(b"not json", {}) == 400
    assert bridge.receive(b'{"Type": "Notification"}', {}) == 400
    bridge.join()
    assert invoked == []


def test_a_failing_handler_is_retried_like_an_async_lambda() -> None:
    calls: list[int] = []

    def flaky(event: dict[str, Any]) -> Any:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("DynamoDB is having a bad day")
        return {"processed": 1}

    bridge = SnsBridge(flaky, retry_seconds=0.01)
    body = fixture("sns-http-event-bounce-permanent-gmail.spatie.json")
    assert bridge.receive(json.dumps(body).encode(), {}) == 200
    bridge.join()
    assert (len(calls), bridge.failures, bridge.invocations) == (3, 2, 1)


def test_emulated_ses_events_reach_the_app_through_sns(
    stack: Stack, client: Client, api_key: str
) -> None:
    bridge = SnsBridge(app_invoker())
    with serving(stack, bridge):
        body = invoice_body(
            recipients=[
                {"email": "dana@customer.example"},
                {"email": f"bounce@{SIM}"},
                {"email": f"complaint@{SIM}"},
            ]
        )
        created = post_invoice(client, api_key, body).json_body
        ses = SesEventEmulator(
            SesIdentity("us-east-1", "123456789012", "sobre"),
            sns_publisher(stack.topic_arn, "us-east-1"),
            sobre_tags(SobreLookup(get_settings())),
        )
        ses.see(messages(stack.endpoint))
        assert ses.publish_due(until=datetime.now(UTC) + timedelta(minutes=1)) == 7
        bridge.join()
    assert (bridge.invocations, bridge.failures) == (7, 0)
    detail = client.http.get(f"/invoices/{created['id']}", headers=auth(api_key)).json_body
    statuses = {r["email"]: r["status"] for r in detail["recipients"]}
    assert statuses == {
        "dana@customer.example": "delivered",
        f"bounce@{SIM}": "bounced",
        f"complaint@{SIM}": "complained",
    }
    bounced = next(r for r in detail["recipients"] if r["status"] == "bounced")
    assert bounced["bounce"]["type"] == "Permanent"
    assert "550 5.1.1" in bounced["bounce"]["diagnostic"]
