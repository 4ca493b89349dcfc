"""SNS → Lambda for the local stack: what AWS does between the SES-events topic and the
``ses_events`` function, emulated. Development only; never deployed.

moto (server mode) POSTs every notification published to a topic to the topic's HTTP
subscribers, but it cannot invoke a Chalice app. So the outbox process subscribes this
bridge's endpoint (``POST /sns``) to the topic; the bridge answers at once, converts the
SNS HTTP envelope into the Lambda event SNS gives a subscribed function
(``Records[].Sns``) and calls the app's ``ses_events`` handler through Chalice's test
client, the same entry point Lambda calls. Like an asynchronous Lambda invocation, it
returns before the handler runs and retries a failed invocation twice.

moto 5.2.5 confirms HTTP subscriptions by itself (``PendingConfirmation`` is false at
once) and never POSTs a ``SubscriptionConfirmation``; the bridge confirms one anyway,
as a real endpoint must.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTION_NAME = "ses_events"
Invoke = Callable[[dict[str, Any]], Any]
Confirm = Callable[[str, str], None]


class BadNotification(ValueError):
    """The body is not an SNS HTTP notification."""


def lambda_record(notification: Mapping[str, Any], subscription_arn: str) -> dict[str, Any]:
    """One ``Records[]`` element of the Lambda event for an SNS HTTP notification body.
    Lambda spells the URL fields ``...Url`` where HTTP says ``...URL``, gives a null
    ``Subject`` when there is none and always has ``MessageAttributes``."""
    try:
        sns = {
            "Type": notification["Type"],
            "MessageId": notification["MessageId"],
            "TopicArn": notification["TopicArn"],
            "Subject": notification.get("Subject"),
            "Message": notification["Message"],
            "Timestamp": notification["Timestamp"],
            "SignatureVersion": notification.get("SignatureVersion", "1"),
            "Signature": notification.get("Signature", ""),
            "SigningCertUrl": notification.get("SigningCertURL", ""),
            "UnsubscribeUrl": notification.get("UnsubscribeURL", ""),
            "MessageAttributes": dict(notification.get("MessageAttributes") or {}),
        }
    except KeyError as exc:
        raise BadNotification(f"SNS notification without {exc}") from exc
    return {
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "EventSource": "aws:sns",
        "Sns": sns,
    }


class SnsBridge:
    """Receives SNS HTTP deliveries and invokes ``invoke`` with a Lambda SNS event for
    each notification, one at a time, in the order received."""

    def __init__(
        self,
        invoke: Invoke,
        confirm: Confirm | None = None,
        subscription_arn: str = "",
        attempts: int = 3,
        retry_seconds: float = 1.0,
    ) -> None:
        self._invoke = invoke
        self._confirm = confirm
        self.subscription_arn = subscription_arn
        self._attempts = attempts
        self._retry_seconds = retry_seconds
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.invocations = 0
        self.failures = 0
        threading.Thread(target=self._work, name="sns-bridge", daemon=True).start()

    def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        """Handle one POST from SNS; returns the HTTP status to answer with."""
        try:
            notification = json.loads(body)
            if not isinstance(notification, dict):
                raise BadNotification("not a JSON object")
            kind = headers.get("x-amz-sns-message-type") or notification.get("Type")
            if kind == "SubscriptionConfirmation":
                if self._confirm is not None:
                    self._confirm(str(notification["TopicArn"]), str(notification["Token"]))
                return 200
            if kind == "UnsubscribeConfirmation":
                return 200
            if kind != "Notification":
                raise BadNotification(f"unknown SNS message type {kind!r}")
            arn = headers.get("x-amz-sns-subscription-arn") or self.subscription_arn
            self._queue.put(lambda_record(notification, arn))
        except (ValueError, KeyError) as exc:
            log(f"refused an SNS delivery: {exc}")
            return 400
        return 200

    def join(self) -> None:
        """Wait until every notification received so far was handled."""
        self._queue.join()

    def _work(self) -> None:
        while True:
            record = self._queue.get()
            try:
                self._deliver({"Records": [record]})
            finally:
                self._queue.task_done()

    def _deliver(self, event: dict[str, Any]) -> None:
        message_id = event["Records"][0]["Sns"]["MessageId"]
        for attempt in range(1, self._attempts + 1):
            try:
                result = self._invoke(event)
            except Exception as exc:  # what Lambda does with a failed async invocation
                self.failures += 1
                log(f"{FUNCTION_NAME} failed on SNS message {message_id} ({attempt}): {exc!r}")
                time.sleep(self._retry_seconds * attempt)
                continue
            self.invocations += 1
            log(f"{FUNCTION_NAME} <- SNS message {message_id}: {json.dumps(result, default=str)}")
            return
        log(f"gave up on SNS message {message_id} after {self._attempts} attempts")


def log(text: str) -> None:
    print(f"sns bridge: {text}", file=sys.stderr, flush=True)


def app_invoker(function_name: str = FUNCTION_NAME) -> Invoke:
    """Calls one of the app's functions (``ses_events`` unless told) as Lambda would
    (stage ``local``)."""
    from chalice.test import Client

    from app import app

    client = Client(app, stage_name="local", project_dir=str(ROOT))

    def invoke(event: dict[str, Any]) -> Any:
        return client.lambda_.invoke(function_name, event).payload

    return invoke


def sns_confirmer(region: str) -> Confirm:
    import boto3

    client = boto3.client("sns", region_name=region)

    def confirm(topic_arn: str, token: str) -> None:
        client.confirm_subscription(TopicArn=topic_arn, Token=token)

    return confirm


def subscribe(topic_arn: str, endpoint: str, region: str) -> str:
    """Subscribe ``endpoint`` (http) to the topic; returns the subscription ARN."""
    import boto3

    client = boto3.client("sns", region_name=region)
    response = client.subscribe(
        TopicArn=topic_arn, Protocol="http", Endpoint=endpoint, ReturnSubscriptionArn=True
    )
    return str(response["SubscriptionArn"])
