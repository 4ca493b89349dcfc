"""Every SES/SNS payload in tests/fixtures/ses-events (published by AWS and others)
through the SNS Lambda handler, pointed at an invoice made in the test."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.dynamo import unprocessed as dynamo_unprocessed
from chalicelib.core.model import iso, parse_iso
from chalicelib.tracking import ses_service
from tests.integration.conftest import (
    FIXTURES,
    auth,
    invoice_body,
    post_invoice,
    sent_view,
    sns_event,
)

EVENTS = FIXTURES / "ses-events"


@dataclass(frozen=True)
class Case:
    file: str
    recipients: tuple[str, ...]
    route_by: str  # "tags" (event publishing) or "message_id" (classic notifications)
    routed: str  # the recipient whose message this notification is about
    statuses: dict[str, str]
    checks: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "event-send.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "recipient@example.com",
        {"recipient@example.com": "sent"},
        {"timeline": "send"},
    ),
    Case(
        "event-delivery.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "recipient@example.com",
        {"recipient@example.com": "delivered"},
        {"delivered_at": "2016-10-19T23:21:04.133Z"},
    ),
    Case(
        "event-complaint.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "recipient@example.com",
        {"recipient@example.com": "complained"},
    ),
    Case(
        "event-reject.awsdocs.json",
        ("sender@example.com",),
        "tags",
        "sender@example.com",
        {"sender@example.com": "rejected"},
    ),
    Case(
        "event-rendering-failure.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "recipient@example.com",
        {"recipient@example.com": "sent"},
        {"timeline": "rendering_failure", "failure": "Attribute 'attributeName' is not present"},
    ),
    Case(
        "event-subscription.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "recipient@example.com",
        {"recipient@example.com": "sent"},
        {"timeline": "subscription"},
    ),
    Case(
        "classic-bounce-permanent-no-dsn.awsdocs.json",
        ("jane@example.com", "mary@example.com", "richard@example.com"),
        "message_id",
        "jane@example.com",
        {
            "jane@example.com": "bounced",
            "mary@example.com": "sent",
            "richard@example.com": "bounced",
        },
    ),
    Case(
        "classic-bounce-permanent-with-dsn.awsdocs.json",
        ("jane@example.com", "mary@example.com", "richard@example.com"),
        "message_id",
        "jane@example.com",
        {"jane@example.com": "bounced", "mary@example.com": "sent", "richard@example.com": "sent"},
    ),
    Case(
        "classic-complaint-with-feedback.awsdocs.json",
        ("jane@example.com", "mary@example.com", "richard@example.com"),
        "message_id",
        "richard@example.com",
        {
            "jane@example.com": "sent",
            "mary@example.com": "sent",
            "richard@example.com": "complained",
        },
    ),
    Case(
        "lambda-sns-classic-delivery-real.lambda-local.json",
        ("jeff@amazon.com",),
        "message_id",
        "jeff@amazon.com",
        {"jeff@amazon.com": "delivered"},
        {"delivered_at": "2017-07-05T20:01:21.302Z"},
    ),
    Case(
        "sns-http-event-bounce-permanent-gmail.spatie.json",
        ("mcbounceface@spatie.be",),
        "tags",
        "mcbounceface@spatie.be",
        {"mcbounceface@spatie.be": "bounced"},
        {"bounce_diagnostic": "5.1.1"},
    ),
    Case(
        "sns-http-event-click.spatie.json",
        ("hello@rias.be",),
        "tags",
        "hello@rias.be",
        {"hello@rias.be": "sent"},
        # Kept, not counted: the invoice's own tracking (on) counts clicks and opens.
        {"timeline": "click", "click_count": 0},
    ),
    # Apple Mail Privacy Protection fetched it: recorded, but not a person's open.
    Case(
        "sns-http-event-open-apple-mpp.spatie.json",
        ("rias@spatie.be",),
        "tags",
        "rias@spatie.be",
        {"rias@spatie.be": "sent"},
        {
            "open_count": 0,
            "machine_open_count": 0,  # kept with its verdict; the pixel counts opens
            "user_agent": "Mozilla/5.0",
            "verdict": "privacy_prefetch",
        },
    ),
]

UNPROCESSABLE = [
    "sns-http-ses-topic-validation.localstack-snapshot.json",
    "sns-http-subscription-confirmation.spatie.json",
    "lambda-sns-envelope.powertools.json",
    "moto-5.2.5-sqs-body-identity-bounce.NOT-AWS-FORMAT.json",
]


def load_fixture(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the decoded SES message, a function's worth of envelope to put it back in)."""
    raw = json.loads((EVENTS / name).read_text())
    if "Records" in raw:
        envelope = raw["Records"][0]["Sns"]
        return json.loads(envelope["Message"]), envelope
    if "Type" in raw:  # an SNS HTTP delivery: the same envelope Lambda gets as "Sns"
        return json.loads(raw["Message"]), raw
    return raw, {"Type": "Notification", "MessageId": "fixture", "Message": None}


def reported_now(message: dict[str, Any]) -> timedelta:
    """Move the fixture's times (2016 to 2022) to now, keeping their spacing, so the
    event's own time is a second ago; returns the shift. An event dated before its
    invoice was sent is outside its window, kept as unprocessable and never applied."""
    stamped = [node for node in message.values() if isinstance(node, dict) and "timestamp" in node]
    latest = max(parse_iso(node["timestamp"]) for node in stamped)
    shift = timedelta(seconds=int((datetime.now(UTC) - latest).total_seconds()) - 1)
    for node in stamped:
        node["timestamp"] = iso(parse_iso(node["timestamp"]) + shift)
    return shift


def shifted(at: str, shift: timedelta) -> str:
    return iso(parse_iso(at) + shift)


def as_lambda_record(envelope: dict[str, Any]) -> dict[str, Any]:
    """An SNS envelope as Lambda's SNS trigger delivers it: Lambda always includes
    Subject and MessageAttributes, which HTTP deliveries may omit."""
    sns = {"Subject": None, "MessageAttributes": {}, **copy.deepcopy(envelope)}
    return {"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": sns}


def lambda_event(message: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
    record = as_lambda_record(envelope)
    record["Sns"]["Message"] = json.dumps(message)
    return {"Records": [record]}


def send_to(client: Client, key: str, emails: tuple[str, ...]) -> dict[str, Any]:
    body = invoice_body(recipients=[{"email": e} for e in emails])
    created = post_invoice(client, key, body)
    assert created.status_code == 202, created.body
    return sent_view(client, key, created.json_body["id"])


def detail(client: Client, key: str, invoice_id: str) -> dict[str, Any]:
    return dict(client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body)


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_fixture_updates_the_named_recipients(client: Client, api_key: str, case: Case) -> None:
    created = send_to(client, api_key, case.recipients)
    routed = next(r for r in created["recipients"] if r["email"] == case.routed)
    message, envelope = load_fixture(case.file)
    if case.route_by == "tags":
        message["mail"].setdefault("tags", {}).update(
            {
                "sobre-account": ["acme"],
                "sobre-invoice": [created["id"]],
                "sobre-recipient": [routed["id"]],
            }
        )
    else:
        message["mail"]["messageId"] = routed["message_id"]
    shift = reported_now(message)
    event = lambda_event(message, envelope)

    outcomes = [client.lambda_.invoke("ses_events", event).payload for _ in range(3)]
    assert outcomes[0]["processed"] == 1
    assert [o["duplicate"] for o in outcomes[1:]] == [1, 1]  # SNS redelivery changes nothing

    state = detail(client, api_key, created["id"])
    by_email = {r["email"]: r for r in state["recipients"]}
    assert {e: by_email[e]["status"] for e in case.recipients} == case.statuses
    mine = by_email[case.routed]
    timeline = client.http.get(f"/invoices/{created['id']}/events", headers=auth(api_key))
    types = [e["type"] for e in timeline.json_body["items"]]
    checks = case.checks
    if "timeline" in checks:
        assert types.count(checks["timeline"]) == 1
    if "delivered_at" in checks:
        assert mine["delivered_at"] == shifted(checks["delivered_at"], shift)
    if "failure" in checks:
        assert checks["failure"] in mine["failure"]["reason"]
    if "bounce_diagnostic" in checks:
        assert checks["bounce_diagnostic"] in mine["bounce"]["diagnostic"]
    if "click_count" in checks:
        assert mine["click_count"] == checks["click_count"]
    if "open_count" in checks:
        assert mine["open_count"] == checks["open_count"]
        assert mine["machine_open_count"] == checks["machine_open_count"]
        [opened] = [e for e in timeline.json_body["items"] if e["type"] == "open"]
        assert opened["details"]["user_agent"] == checks["user_agent"]
        assert opened["details"]["verdict"] == checks["verdict"]
        # With Sobre's pixel tracking, SES's own report is kept but not counted.
        assert opened["details"]["counted"] is False


@pytest.mark.parametrize("name", UNPROCESSABLE)
def test_unprocessable_payloads_are_kept_for_an_operator(client: Client, name: str) -> None:
    raw = json.loads((EVENTS / name).read_text())
    if "Records" in raw:
        event = raw
    elif "Type" in raw:
        event = {"Records": [as_lambda_record(raw)]}
    else:  # moto's SQS body: its Message is an object, not the string SNS sends
        event = {"Records": [as_lambda_record({"Type": "Notification", "Message": raw})]}
    outcome = client.lambda_.invoke("ses_events", event).payload
    assert outcome["unprocessable"] == 1
    kept = dynamo_unprocessed.DynamoUnprocessedStore(180).list_unprocessed(10)
    assert len(kept) == 1
    assert kept[0]["reason"]
    assert json.loads(kept[0]["payload"])  # the whole record, replayable


def test_events_for_messages_sobre_did_not_send_are_ignored(client: Client, api_key: str) -> None:
    created = send_to(client, api_key, ("recipient@example.com",))
    message, envelope = load_fixture("event-delivery.awsdocs.json")  # no sobre tags
    outcome = client.lambda_.invoke("ses_events", lambda_event(message, envelope)).payload
    assert outcome == {"processed": 0, "duplicate": 0, "ignored": 1, "unprocessable": 0}
    assert detail(client, api_key, created["id"])["status"] == "sent"
    assert dynamo_unprocessed.DynamoUnprocessedStore(180).list_unprocessed(10) == []


def test_every_record_of_a_multi_record_event_is_processed(client: Client, api_key: str) -> None:
    created = send_to(client, api_key, ("recipient@example.com",))
    rid = created["recipients"][0]["id"]
    messages, shifts = [], {}
    for name in (
        "event-send.awsdocs.json",
        "event-delivery.awsdocs.json",
        "event-complaint.awsdocs.json",
    ):
        message, _ = load_fixture(name)
        message["mail"]["tags"].update(
            {"sobre-account": ["acme"], "sobre-invoice": [created["id"]], "sobre-recipient": [rid]}
        )
        shifts[name] = reported_now(message)
        messages.append(json.dumps(message))
    outcome = client.lambda_.invoke("ses_events", sns_event(*messages)).payload
    assert outcome["processed"] == 3
    recipient = detail(client, api_key, created["id"])["recipients"][0]
    assert recipient["status"] == "complained"
    assert recipient["delivered_at"] == shifted(
        "2016-10-19T23:21:04.133Z", shifts["event-delivery.awsdocs.json"]
    )


def test_tags_of_another_account_are_ignored(client: Client, api_key: str) -> None:
    created = send_to(client, api_key, ("recipient@example.com",))
    message, envelope = load_fixture("event-complaint.awsdocs.json")
    message["mail"]["tags"].update(
        {"sobre-account": ["someone-else"], "sobre-invoice": [created["id"]]}
    )
    outcome = client.lambda_.invoke("ses_events", lambda_event(message, envelope)).payload
    assert outcome["ignored"] == 1
    assert detail(client, api_key, created["id"])["status"] == "sent"


def test_an_event_that_is_not_sns_at_all_is_kept(stack: object) -> None:
    # Lambda's SNS trigger never sends this shape (Chalice's SNSEvent would refuse it
    # before our code runs, and the invocation would go to the on-failure destination);
    # the service still keeps it when handed one, e.g. by a manual replay.
    from chalicelib.container import context

    raw = json.loads(
        (EVENTS / "lambda-ses-inbound-receipt-NOT-a-notification.powertools.json").read_text()
    )
    outcome = ses_service.process_sns_event(context(), raw)
    assert outcome["unprocessable"] == 1
    assert (
        "no 'Sns' object"
        in dynamo_unprocessed.DynamoUnprocessedStore(180).list_unprocessed(1)[0]["reason"]
    )
