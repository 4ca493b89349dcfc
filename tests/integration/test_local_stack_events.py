"""The local stack's SES event emulator (infra/ses_emulator.py) against moto: the events
it publishes for each kind of recipient, and that each has the shape of the real SES
events in tests/fixtures/ses-events (keys, nested keys and value types)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib.settings import get_settings
from infra.ses_emulator import (
    SNS_SUBJECT,
    SesEventEmulator,
    SesIdentity,
    sns_publisher,
    sobre_tags,
    steps_for,
)
from tests.integration.conftest import (
    FIXTURES,
    SENDER,
    Stack,
    invoice_body,
    post_invoice,
    sent_view,
)
from tools.local_mail import SobreLookup, messages

SES_FIXTURES = FIXTURES / "ses-events"
SIM = "simulator.amazonses.com"
ORDINARY = "dana@customer.example"
RECIPIENTS = [ORDINARY, *(f"{n}@{SIM}" for n in ("success", "ooto", "bounce", "complaint"))]
RECIPIENTS.append(f"suppressionlist@{SIM}")
# SES's automatic tags (https://docs.aws.amazon.com/ses/latest/dg/monitor-using-event-publishing.html)
SES_AUTO_TAGS = {
    "ses:operation",
    "ses:configuration-set",
    "ses:source-ip",
    "ses:from-domain",
    "ses:caller-identity",
    "ses:outgoing-ip",
    "ses:source-tls-version",
    "ses:recipient-isp",
}
# commonHeaders keys SES adds only when the message has the header.
HEADER_DEPENDENT = {"date", "replyTo", "cc", "bcc", "sender", "returnPath"}


def real_event(kind: str) -> dict[str, Any]:
    if kind == "Bounce":  # a real capture: the SNS HTTP body, Message a JSON string
        envelope = json.loads(
            (SES_FIXTURES / "sns-http-event-bounce-permanent-gmail.spatie.json").read_text()
        )
        return dict(json.loads(envelope["Message"]))
    name = {"Send": "event-send", "Delivery": "event-delivery", "Complaint": "event-complaint"}
    return dict(json.loads((SES_FIXTURES / f"{name[kind]}.awsdocs.json").read_text()))


def shape_differences(emulated: Any, real: Any, path: str = "") -> list[str]:
    """Every place where ``emulated`` differs in shape from ``real``."""
    where = path or "(top)"
    if type(emulated) is not type(real):
        return [f"{where}: {type(emulated).__name__}, real SES has {type(real).__name__}"]
    if isinstance(real, list):
        if not real:
            return [] if not emulated else [f"{where}: items where real SES has none"]
        if not emulated:
            return [f"{where}: empty where real SES has items"]
        return [d for item in emulated for d in shape_differences(item, real[0], f"{path}[]")]
    if not isinstance(real, dict):
        return []
    if path == "mail.tags":
        return tag_differences(emulated, real)
    optional = HEADER_DEPENDENT if path == "mail.commonHeaders" else set()
    differences = [
        f"{where}: {sorted(keys)} {label}"
        for keys, label in (
            (set(emulated) - set(real) - optional, "not in real SES"),
            (set(real) - set(emulated) - optional, "missing"),
        )
        if keys
    ]
    for key in set(emulated) & set(real):
        differences += shape_differences(emulated[key], real[key], f"{path}.{key}".lstrip("."))
    return differences


def tag_differences(emulated: dict[str, Any], real: dict[str, Any]) -> list[str]:
    """Tags are a map: SES's automatic ones must be there, every value a list of str."""
    differences = [
        f"mail.tags.{name}: not a list of strings"
        for name, values in emulated.items()
        if not (isinstance(values, list) and values and all(isinstance(v, str) for v in values))
    ]
    auto_real = {name for name in real if name.startswith("ses:")}
    auto_emulated = {name for name in emulated if name.startswith("ses:")}
    if auto_real - auto_emulated:
        differences.append(f"mail.tags: missing {sorted(auto_real - auto_emulated)}")
    if auto_emulated - SES_AUTO_TAGS:
        differences.append(f"mail.tags: not SES tags {sorted(auto_emulated - SES_AUTO_TAGS)}")
    return differences


def test_the_shape_comparison_catches_differences() -> None:
    real = real_event("Delivery")
    assert shape_differences(real, real) == []
    changed = json.loads(json.dumps(real))
    changed["delivery"]["processingTimeMillis"] = "11893"
    del changed["mail"]["headersTruncated"]
    changed["mail"]["commonHeaders"]["extra"] = ["x"]
    changed["mail"]["tags"]["ses:outgoing-ip"] = "192.0.2.0"
    assert len(shape_differences(changed, real)) == 4


@pytest.mark.parametrize(
    ("address", "steps"),
    [
        ("ana@globex.example", ("delivery",)),
        (f"success@{SIM}", ("delivery",)),
        (f"ooto@{SIM}", ("delivery",)),
        (f"Bounce+label@{SIM.upper()}", ("bounce",)),
        (f"complaint@{SIM}", ("delivery", "complaint")),
        (f"suppressionlist@{SIM}", ("suppressed",)),
        ("bounce@example.com", ("delivery",)),
    ],
)
def test_the_mailbox_simulator_as_aws_documents_it(address: str, steps: tuple[str, ...]) -> None:
    assert steps_for(address) == steps


def subscribe_queue(topic_arn: str) -> str:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = str(sqs.create_queue(QueueName="ses-events-probe")["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    boto3.client("sns", region_name="us-east-1").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn
    )
    return url


def received(queue_url: str) -> list[dict[str, Any]]:
    """Every SNS notification the queue got, oldest first."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        found += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return found


def emulator(stack: Stack, clock: Any = None) -> SesEventEmulator:
    identity = SesIdentity(region="us-east-1", account_id="123456789012", configuration_set="sobre")
    return SesEventEmulator(
        identity,
        sns_publisher(stack.topic_arn, "us-east-1"),
        sobre_tags(SobreLookup(get_settings())),
        **({"clock": clock} if clock else {}),
    )


def recipients_of(event: dict[str, Any]) -> list[str]:
    match event["eventType"]:
        case "Delivery":
            return [str(r) for r in event["delivery"]["recipients"]]
        case "Bounce":
            return [str(r["emailAddress"]) for r in event["bounce"]["bouncedRecipients"]]
        case "Complaint":
            return [str(r["emailAddress"]) for r in event["complaint"]["complainedRecipients"]]
        case _:
            return [str(r) for r in event["mail"]["destination"]]


def event_time(event: dict[str, Any]) -> str:
    own = event.get(event["eventType"].lower()) or {}
    return str(own.get("timestamp") or event["mail"]["timestamp"])


@pytest.fixture
def published(stack: Stack, client: Client, api_key: str) -> tuple[dict[str, Any], list[Any]]:
    """An invoice to every kind of recipient, and what the emulator published about it."""
    queue = subscribe_queue(stack.topic_arn)
    body = invoice_body(recipients=[{"email": address} for address in RECIPIENTS])
    created = post_invoice(client, api_key, body).json_body
    assert [r["status"] for r in created["recipients"]] == ["queued"] * len(RECIPIENTS)
    created = sent_view(client, api_key, created["id"])
    assert [r["status"] for r in created["recipients"]] == ["sent"] * len(RECIPIENTS)
    ses = emulator(stack)
    ses.see(messages(stack.endpoint))
    assert ses.pending == 6 * 2 + 1  # Send and Delivery or Bounce each, and a Complaint
    assert ses.publish_due(until=datetime.now(UTC) + timedelta(minutes=1)) == 13
    assert ses.pending == 0
    return created, received(queue)


def test_every_emulated_event_has_the_shape_of_the_real_one(
    published: tuple[dict[str, Any], list[Any]],
) -> None:
    _, notifications = published
    events = [json.loads(n["Message"]) for n in notifications]
    assert {e["eventType"] for e in events} == {"Send", "Delivery", "Bounce", "Complaint"}
    for event in events:
        differences = shape_differences(event, real_event(event["eventType"]))
        assert differences == [], f"{event['eventType']} differs from SES: {differences}"


def test_what_ses_publishes_for_each_recipient(
    published: tuple[dict[str, Any], list[Any]],
) -> None:
    created, notifications = published
    assert {n["Subject"] for n in notifications} == {SNS_SUBJECT}
    assert all(n["Message"].endswith("}\n") for n in notifications)  # as SES writes it
    events = sorted((json.loads(n["Message"]) for n in notifications), key=event_time)
    timeline: dict[str, list[str]] = {}
    for event in events:
        for address in recipients_of(event):
            timeline.setdefault(address, []).append(event["eventType"])
    assert timeline == {
        ORDINARY: ["Send", "Delivery"],
        f"success@{SIM}": ["Send", "Delivery"],
        f"ooto@{SIM}": ["Send", "Delivery"],
        f"bounce@{SIM}": ["Send", "Bounce"],
        f"complaint@{SIM}": ["Send", "Delivery", "Complaint"],
        f"suppressionlist@{SIM}": ["Send", "Bounce"],
    }
    bounces = {recipients_of(e)[0]: e["bounce"] for e in events if e["eventType"] == "Bounce"}
    assert (bounces[f"bounce@{SIM}"]["bounceType"], bounces[f"bounce@{SIM}"]["bounceSubType"]) == (
        "Permanent",
        "General",
    )
    assert "550 5.1.1" in bounces[f"bounce@{SIM}"]["bouncedRecipients"][0]["diagnosticCode"]
    suppressed = bounces[f"suppressionlist@{SIM}"]
    assert (suppressed["bounceType"], suppressed["bounceSubType"]) == (
        "Permanent",
        "OnAccountSuppressionList",
    )
    complaint = next(e["complaint"] for e in events if e["eventType"] == "Complaint")
    assert complaint["complaintFeedbackType"] == "abuse"

    by_address = {r["email"]: r for r in created["recipients"]}
    for event in events:
        mail = event["mail"]
        recipient = by_address[mail["destination"][0]]
        assert mail["messageId"] == recipient["message_id"]
        assert mail["source"] == SENDER
        assert mail["commonHeaders"]["messageId"] == recipient["message_id"]
        assert {"name": "To", "value": mail["destination"][0]} in mail["headers"]
        tags = mail["tags"]
        assert tags["sobre-account"] == ["acme"]
        assert tags["sobre-invoice"] == [created["id"]]
        assert tags["sobre-recipient"] == [recipient["id"]]
        assert tags["ses:configuration-set"] == ["sobre"]
        assert tags["ses:from-domain"] == ["example.com"]
        left_ses = event["eventType"] != "Send" and (
            event["eventType"] != "Bounce" or event["bounce"]["bounceSubType"] == "General"
        )
        assert ("ses:outgoing-ip" in tags) == left_ses, event["eventType"]


def test_mail_sobre_did_not_send_waits_for_tags_then_goes_without(stack: Stack) -> None:
    queue = subscribe_queue(stack.topic_arn)
    boto3.client("sesv2", region_name="us-east-1").send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["someone@elsewhere.example"]},
        Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}}},
    )
    now = [datetime.now(UTC)]
    ses = emulator(stack, clock=lambda: now[0])
    ses.see(messages(stack.endpoint))
    assert ses.publish_due(until=now[0] + timedelta(minutes=1)) == 0  # waiting for tags
    now[0] += timedelta(seconds=6)
    ses.see(messages(stack.endpoint))
    assert ses.publish_due(until=now[0] + timedelta(minutes=1)) == 2
    ses.see(messages(stack.endpoint))
    assert ses.pending == 0  # handled once only
    events = [json.loads(n["Message"]) for n in received(queue)]
    assert [e["eventType"] for e in events] == ["Send", "Delivery"]
    assert not [t for t in events[0]["mail"]["tags"] if t.startswith("sobre-")]
