"""Findings 4, 5 and 8 of issue 15 (SES events that crash or misapply, tenant and time
binding, privacy), tried against the local stack by ``tools.attack``: SNS messages
built from the real fixtures in tests/fixtures/ses-events, published to the local
topic, each followed to its outcome in the SNS bridge's log."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from chalicelib.core.model import iso, parse_iso
from tools.attack import CREATED, Stack, Verdict, ses_fixture

WHOLE_IPS = ("198.51.100.77", "2001:db8:1234:5678::9")
Event = dict[str, Any]


class Target:
    """A real invoice of the demo account and its one recipient, mailed."""

    def __init__(self, stack: Stack, name: str) -> None:
        self.email = stack.address(name)
        created = stack.post_json("/invoices", stack.invoice_body([{"email": self.email}]))
        if created.status not in CREATED:
            raise RuntimeError(f"POST /invoices: {created.status} {created.body[:200]!r}")
        self.id = str(created.json()["id"])
        self.invoice: dict[str, Any] = stack.settled(self.id)  # mailed: the queue ran
        self.recipient_id = str(self.invoice["recipients"][0]["id"])

    def event(self, stack: Stack, fixture: str, n: str, account: str | None = "demo") -> Event:
        """``fixture`` pointed at this recipient (tags, destination, a message id of the
        run that resolves to nothing) and moved to now."""
        event = copy.deepcopy(ses_fixture(fixture))
        mail = event["mail"]
        tags = {"sobre-invoice": [self.id], "sobre-recipient": [self.recipient_id]}
        if account is not None:
            tags["sobre-account"] = [account]
        mail["tags"] = {**mail.get("tags", {}), **tags, "attack-run": [stack.run]}
        mail["destination"] = [self.email]
        mail["messageId"] = f"{stack.run}-{n}"
        at = iso(datetime.now(UTC))
        mail["timestamp"] = at
        for part in ("delivery", "bounce", "complaint", "open", "click", "send", "reject"):
            if isinstance(event.get(part), dict) and "timestamp" in event[part]:
                event[part]["timestamp"] = at
        for part, field in (("delivery", "recipients"), ("complaint", "complainedRecipients")):
            if part == "delivery" and isinstance(event.get(part), dict):
                event[part][field] = [self.email]
            elif isinstance(event.get(part), dict):
                event[part][field] = [{"emailAddress": self.email}]
        return event


def _set(path: str, value: Any) -> Callable[[Event], None]:
    def change(event: Event) -> None:
        *parents, last = path.split(".")
        node = event
        for name in parents:
            node = node[name]
        node[last] = value

    return change


def _delivery_delay(event: Event) -> None:
    event["eventType"] = "DeliveryDelay"
    at = event["delivery"].pop("timestamp")
    event.pop("delivery")
    event["deliveryDelay"] = {
        "timestamp": at,
        "delayType": "TransientCommunicationFailure",
        "expirationTime": at,
        "delayedRecipients": [{"emailAddress": None, "status": "4.4.1", "diagnosticCode": "x"}],
    }


WRONG: dict[str, tuple[str, Callable[[Event], None]]] = {
    "userAgent as a list": (
        "sns-http-event-open-apple-mpp.spatie.json",
        _set("open.userAgent", ["a", "list"]),
    ),
    "delivery in year 9999": (
        "event-delivery.awsdocs.json",
        _set("delivery.timestamp", "9999-12-31T23:59:59.999Z"),
    ),
    "delivery in year 0001": (
        "event-delivery.awsdocs.json",
        _set("delivery.timestamp", "0001-01-01T00:00:00.000Z"),
    ),
    "mail.destination a string": ("event-delivery.awsdocs.json", _set("mail.destination", "abc")),
    "mail.destination an object": (
        "event-delivery.awsdocs.json",
        _set("mail.destination", {"to": "abc"}),
    ),
    "a Click whose link is an object": (
        "sns-http-event-click.spatie.json",
        _set("click.link", {"href": "https://x.example"}),
    ),
    'delivery.recipients "abc"': (
        "event-delivery.awsdocs.json",
        _set("delivery.recipients", "abc"),
    ),
    "delivery.recipients [123]": (
        "event-delivery.awsdocs.json",
        _set("delivery.recipients", [123]),
    ),
    'processingTimeMillis "fast"': (
        "event-delivery.awsdocs.json",
        _set("delivery.processingTimeMillis", "fast"),
    ),
    "a DeliveryDelay with a null address": ("event-delivery.awsdocs.json", _delivery_delay),
}


def publish_all(stack: Stack, messages: dict[str, str]) -> dict[str, str]:
    """label -> the handler's outcome, as the SNS bridge logged it."""
    ids = {label: stack.publish(message) for label, message in messages.items()}
    outcomes = stack.handled(list(ids.values()))
    return {label: outcomes.get(i, "no outcome logged within 60 s") for label, i in ids.items()}


def _result(outcome: str) -> dict[str, int]:
    try:
        parsed: dict[str, int] = json.loads(outcome)
    except ValueError:
        return {}
    return parsed


def malformed_events(stack: Stack) -> Verdict:
    """Finding 4: malformed and wrong-typed messages aimed at a real invoice end in the
    unprocessed store: never raised, never applied."""
    verdict = Verdict()
    target = Target(stack, "events")
    before = stack.invoice(target.id)
    messages = {}
    for n, (label, (fixture, change)) in enumerate(WRONG.items()):
        event = target.event(stack, fixture, f"f4-{n}")
        change(event)
        messages[label] = json.dumps(event)
    depth = 5_000 if stack.fast else 50_000
    messages["JSON nested deep"] = (
        '{"eventType": "Delivery", "attack-run": "'
        + stack.run
        + '", "mail": '
        + "[" * depth
        + "]" * depth
        + "}"
    )
    outcomes = publish_all(stack, messages)
    kept = 0
    for label, outcome in outcomes.items():
        if _result(outcome).get("unprocessable") == 1:
            kept += 1
        else:
            verdict.fail(f"{label}: {outcome}")
    events = stack.request("GET", f"/invoices/{target.id}/events?limit=200").body.decode()
    applied = [label for n, label in enumerate(WRONG) if f"{stack.run}-f4-{n}" in events]
    after = stack.invoice(target.id)
    verdict.check(not applied, "", f"applied to the invoice: {applied}")
    verdict.check(
        len(after["recipients"]) == len(before["recipients"]),
        "",
        f"the invoice now has {len(after['recipients'])} recipients",
    )
    if not verdict.problems:
        verdict.evidence = [
            f"{kept}/{len(messages)} malformed messages kept as unprocessable, none raised, "
            "none applied to the invoice they name"
        ]
    return verdict


def _summary_item(invoice_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName="sobre", Key={"pk": {"S": f"INVOICE#{invoice_id}"}, "sk": {"S": "INVOICE"}}
    )["Item"]
    return item


def tenant_and_time(stack: Stack) -> Verdict:
    """Finding 5: a Complaint without (or with a wrong) account tag changes nothing; a
    Delivery dated 2999 or 0001 moves no time and no TTL."""
    verdict = Verdict()
    target = Target(stack, "tenant")
    untagged = target.event(stack, "event-complaint.awsdocs.json", "f5-0", account=None)
    wrong = target.event(stack, "event-complaint.awsdocs.json", "f5-1", account="someone-else")
    messages = {
        "Complaint without the account tag": json.dumps(untagged),
        "Complaint with a wrong account tag": json.dumps(wrong),
    }
    for n, year in ((2, "2999"), (3, "0001")):
        event = target.event(stack, "event-delivery.awsdocs.json", f"f5-{n}")
        event["delivery"]["timestamp"] = f"{year}-06-01T00:00:00.000Z"
        event["mail"]["timestamp"] = f"{year}-06-01T00:00:00.000Z"
        messages[f"Delivery dated {year}"] = json.dumps(event)
    outcomes = publish_all(stack, messages)
    for label, outcome in outcomes.items():
        result = _result(outcome)
        ok = result.get("processed") == 0 and not outcome.startswith("raised")
        verdict.check(ok, f"{label}: {outcome}", f"{label}: {outcome}")
    detail = stack.invoice(target.id)
    status = detail["recipients"][0]["status"]
    verdict.check(
        status != "complained",
        f"recipient {status}",
        "the forged Complaint marked the recipient complained",
    )
    latest = max(
        str(detail.get(k) or "") for k in ("last_activity_at", "updated_at", "delivered_at")
    )
    verdict.check(latest < "2100", "", f"an invoice time moved to {latest}")
    expires = int(_summary_item(target.id)["expires_at"]["N"])
    created = parse_iso(detail["created_at"])
    verdict.check(
        expires <= int((created + timedelta(days=366)).timestamp()),
        "the summary's TTL within a year of its creation",
        f"the summary's TTL is {datetime.fromtimestamp(expires, UTC).isoformat()}",
    )
    return verdict


def _kept_of_run(stack: Stack) -> str:
    """Every UNPROCESSED# item of today that mentions this run, as JSON."""
    day = datetime.now(UTC).date().isoformat()
    items = boto3.client("dynamodb").query(
        TableName="sobre",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"UNPROCESSED#{day}"}},
    )["Items"]
    return json.dumps([i for i in items if stack.run in json.dumps(i)], ensure_ascii=False)


def privacy(stack: Stack) -> Verdict:
    """Finding 8: no whole IP in a kept payload, in an applied SES Open, nor in a pixel
    fetch's fact; the summary's TTL counts from the creation."""
    verdict = Verdict()
    target = Target(stack, "privacy")
    wrong = target.event(stack, "sns-http-event-open-apple-mpp.spatie.json", "f8-0")
    wrong["open"]["ipAddress"] = WHOLE_IPS[0]
    wrong["open"]["userAgent"] = ["from", WHOLE_IPS[1]]
    good = target.event(stack, "sns-http-event-open-apple-mpp.spatie.json", "f8-1")
    good["open"]["ipAddress"] = WHOLE_IPS[0]
    outcomes = publish_all(stack, {"bad open": json.dumps(wrong), "open": json.dumps(good)})
    kept = _kept_of_run(stack)
    verdict.check(
        WHOLE_IPS[0] in json.dumps(wrong)
        and '"unprocessable": 1' in outcomes["bad open"]
        and stack.run in kept
        and not any(ip in kept for ip in WHOLE_IPS),
        "an unprocessable Open kept with its IPs cut to 198.51.100.0 and 2001:db8:1234::",
        f"kept payload: {outcomes['bad open']} {kept[:300]}",
    )
    from tools.attack_mail import mailed_paths

    pixel, _ = mailed_paths(stack, target.email)
    stack.request("GET", pixel, key="", headers={"User-Agent": "Mozilla/5.0"})
    time.sleep(1)
    events = stack.request("GET", f"/invoices/{target.id}/events?limit=200").body.decode()
    verdict.check(
        not any(ip in events for ip in (*WHOLE_IPS, "127.0.0.1")),
        "the applied SES Open and the pixel fetch keep /24 networks only",
        f"a whole IP in the invoice's events: {events[:300]}",
    )
    expires = int(_summary_item(target.id)["expires_at"]["N"])
    created = parse_iso(
        target.invoice["created_at"]
        if "created_at" in target.invoice
        else stack.invoice(target.id)["created_at"]
    )
    verdict.check(
        expires <= int((created + timedelta(days=181)).timestamp()),
        "the summary expires ≤ 180 days after its creation",
        f"the summary expires {datetime.fromtimestamp(expires, UTC).isoformat()}",
    )
    return verdict
