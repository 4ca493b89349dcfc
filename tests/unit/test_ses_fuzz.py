"""A fuzz suite over the SNS handler (``ses_service.process_sns_event``), both SES
formats: the real payloads of tests/fixtures/ses-events, aimed at invoices Sobre sent,
then mutated — a field Sobre reads given a wrong type or deleted, nested deep, made
huge, an odd timestamp, anything anywhere. Whatever comes in:

* no exception escapes but a transient storage failure (``Unavailable``);
* every malformed message ends in the unprocessed store and changes no invoice;
* a well-formed one (a field Sobre does not need deleted, a huge free text) applies.

Over the fakes of tests/fakes.py: a world with one invoice per fixture, copied per
example, so a few hundred examples take seconds."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT, iso
from chalicelib.errors import Unavailable
from chalicelib.tracking import ses_service
from chalicelib.tracking.ses_events import parse_notification
from chalicelib.tracking.ses_schema import MAX_TEXT
from tests.fakes import FakeInvoiceStore, World, make_context
from tests.unit.test_service import fixture_message, new_world, record, send

pytestmark = pytest.mark.disable_socket

FUZZ = settings(
    max_examples=60,  # seven properties: a few hundred examples in all
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
EVENT_PUBLISHING = [
    "event-send.awsdocs.json",
    "event-delivery.awsdocs.json",
    "event-complaint.awsdocs.json",
    "event-reject.awsdocs.json",
    "event-rendering-failure.awsdocs.json",
    "event-subscription.awsdocs.json",
    "sns-http-event-bounce-permanent-gmail.spatie.json",
    "sns-http-event-click.spatie.json",
    "sns-http-event-open-apple-mpp.spatie.json",
]
CLASSIC = [
    "classic-bounce-permanent-no-dsn.awsdocs.json",
    "classic-bounce-permanent-with-dsn.awsdocs.json",
    "classic-complaint-with-feedback.awsdocs.json",
    "lambda-sns-classic-delivery-real.lambda-local.json",
]
FIXTURES = EVENT_PUBLISHING + CLASSIC

# What Sobre reads of each notification (chalicelib/tracking/ses_schema.py), by path
# (``[]``: any item of a list) and kind. A wrong type in any of them is malformed.
_TEXT = "text"  # optional string
_BODY_TEXT = {
    "delivery": ("smtpResponse", "remoteMtaIp", "reportingMTA"),
    "bounce": ("bounceType", "bounceSubType", "feedbackId"),
    "bounce.bouncedRecipients[]": ("diagnosticCode", "status", "action"),
    "complaint": ("complaintFeedbackType", "feedbackId"),
    "reject": ("reason",),
    "open": ("userAgent", "ipAddress"),
    "click": ("userAgent", "ipAddress", "link"),
    "failure": ("errorMessage", "templateName"),
    "subscription": ("source", "contactList"),
    "deliveryDelay": ("delayType", "expirationTime"),
}
_LISTS = {
    "delivery.recipients": "addresses",
    "bounce.bouncedRecipients": "objects",
    "complaint.complainedRecipients": "objects",
    "mail.destination": "addresses",
}
KINDS: dict[str, str] = {
    "mail": "object",
    "mail.messageId": "id",
    "mail.timestamp": "time",
    "eventType": "type",
    "notificationType": "type",
    **{f"{body}.{name}": _TEXT for body, names in _BODY_TEXT.items() for name in names},
    **{body: "object" for body in _BODY_TEXT if "." not in body},
    **{f"{body}.timestamp": "time" for body in _BODY_TEXT if "." not in body},
    **_LISTS,
    **{f"{path}[]": "address" for path, kind in _LISTS.items() if kind == "addresses"},
    **{f"{path}[]": "object" for path, kind in _LISTS.items() if kind == "objects"},
    **{f"{path}[].emailAddress": "address" for path, kind in _LISTS.items() if kind == "objects"},
    "delivery.processingTimeMillis": "int",
}
for _untimed in ("reject", "failure"):
    del KINDS[f"{_untimed}.timestamp"]
# Needed only where the type names its recipients from the mail.
_DESTINATION_NEEDED = {"send", "reject", "open", "click", "rendering_failure", "subscription"}


@dataclass(frozen=True)
class Target:
    invoice_id: str
    message: dict[str, Any]  # well formed, aimed at the invoice, reported now


@cache
def base() -> tuple[World, dict[str, Target]]:
    """One world, one invoice per fixture, and each fixture's well-formed message."""
    w = new_world()
    now = w.clock()
    targets: dict[str, Target] = {}
    for name in FIXTURES:
        message = fixture_message(name)
        for node in message.values():
            if isinstance(node, dict) and "timestamp" in node:
                node["timestamp"] = iso(now + timedelta(seconds=1))
        named = {e.email for e in parse_notification(json.dumps(message)).events}
        emails = sorted(named | set(message["mail"].get("destination", [])))
        invoice = send(w, *emails)
        routed = invoice.recipient_by_email(sorted(named)[0])
        assert routed is not None
        if name in CLASSIC:
            message["mail"]["messageId"] = routed.message_id
        else:
            message["mail"].setdefault("tags", {}).update(
                {
                    TAG_ACCOUNT: ["acme"],
                    TAG_INVOICE: [invoice.id],
                    TAG_RECIPIENT: [routed.id],
                }
            )
        targets[name] = Target(invoice.id, message)
    return w, targets


def fresh() -> tuple[World, dict[str, Target]]:
    w, targets = base()
    return copy.deepcopy(w), targets


def paths(node: Any, prefix: str = "") -> list[tuple[str, tuple[Any, ...]]]:
    """Every (kind path, concrete path) in ``node``; lists are ``[]`` in the kind path."""
    found: list[tuple[str, tuple[Any, ...]]] = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in items:
        kind_path = f"{prefix}[]" if isinstance(node, list) else f"{prefix}.{key}".lstrip(".")
        found.append((kind_path, (key,)))
        found += [(k, (key, *rest)) for k, rest in paths(child, kind_path)]
    return found


def put(message: dict[str, Any], where: tuple[Any, ...], value: Any) -> None:
    node: Any = message
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value


def delete(message: dict[str, Any], where: tuple[Any, ...]) -> None:
    node: Any = message
    for key in where[:-1]:
        node = node[key]
    del node[where[-1]]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
NOT_STRING = JSON.filter(lambda v: not isinstance(v, str))
ODD_TIMES = st.sampled_from(
    [
        "9999-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59.999-05:00",
        "0001-01-01T00:00:00.000Z",
        "0001-01-01T00:00:00.000+01:00",
        "2999-01-01T00:00:00.000Z",
        "2016-10-19T23:21:04.133Z",
        "1970-01-01T00:00:00Z",
        "2026-01-05T09:30:01",  # no zone
        "2026-01-05 09:30:01Z",
        "2026-13-05T09:30:01Z",
        "2026-01-05T09:30:01.1234567Z",
        "yesterday",
        "",
    ]
)


def wrong_value(kind: str) -> st.SearchStrategy[Any]:
    """A value that ``kind`` never accepts."""
    match kind:
        case "text":
            return NOT_STRING.filter(lambda v: v is not None)
        case "int":
            return JSON.filter(
                lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, int))
            )
        case "time":
            return NOT_STRING | ODD_TIMES
        case "address":
            return NOT_STRING | st.text(max_size=30).filter(lambda v: "@" not in v)
        case "addresses":
            return (
                JSON.filter(lambda v: not isinstance(v, list))
                | st.just([])
                | st.lists(NOT_STRING, min_size=1, max_size=3)
            )
        case "objects":
            return (
                JSON.filter(lambda v: not isinstance(v, list))
                | st.just([])
                | st.lists(
                    NOT_STRING.filter(lambda v: not isinstance(v, dict)), min_size=1, max_size=3
                )
            )
        case "object":
            return JSON.filter(lambda v: not isinstance(v, dict))
        case _:  # the message id
            return NOT_STRING | st.sampled_from(["", "two words", "x" * 300, "tab\there"])


@dataclass(frozen=True)
class Outcome:
    result: dict[str, int]
    kept: int
    changed: bool


def run(w: World, target: Target, message: Any, raw: str | None = None) -> Outcome:
    before = (copy.deepcopy(w.invoices.invoices), copy.deepcopy(w.invoices.facts))
    kept = len(w.unprocessed.items)
    result = ses_service.process_sns_event(w.ctx, {"Records": [record(raw or json.dumps(message))]})
    assert sum(result.values()) == 1
    changed = (w.invoices.invoices, w.invoices.facts) != before
    return Outcome(result, len(w.unprocessed.items) - kept, changed)


def assert_kept(outcome: Outcome) -> None:
    assert outcome.result["unprocessable"] == 1, outcome
    assert outcome.kept == 1
    assert not outcome.changed


def assert_applied(outcome: Outcome) -> None:
    assert outcome.result["processed"] == 1, outcome
    assert outcome.kept == 0
    assert outcome.changed


@pytest.mark.parametrize("name", FIXTURES)
def test_every_well_formed_fixture_applies(name: str) -> None:
    w, targets = fresh()
    assert_applied(run(w, targets[name], targets[name].message))


@FUZZ
@given(st.sampled_from(FIXTURES), st.data())
def test_a_read_field_of_the_wrong_type_is_kept(name: str, data: st.DataObject) -> None:
    w, targets = fresh()
    message = copy.deepcopy(targets[name].message)
    read = [(k, p) for k, p in paths(message) if k in KINDS]
    kind_path, where = data.draw(st.sampled_from(read))
    put(message, where, data.draw(wrong_value(KINDS[kind_path]), label=kind_path))
    assert_kept(run(w, targets[name], message))


@FUZZ
@given(st.sampled_from(FIXTURES), st.data())
def test_a_missing_field_is_kept_unless_sobre_can_do_without(
    name: str, data: st.DataObject
) -> None:
    w, targets = fresh()
    message = copy.deepcopy(targets[name].message)
    kind_path, where = data.draw(st.sampled_from(paths(message)))
    delete(message, where)
    event_type = parse_notification(json.dumps(targets[name].message)).event_type
    outcome = run(w, targets[name], message)
    kind = KINDS.get(kind_path)
    optional = kind in ("text", "int") or (
        kind_path == "mail.destination" and event_type not in _DESTINATION_NEEDED
    )
    if kind is None and not kind_path.startswith("mail.tags"):
        assert_applied(outcome)  # nothing Sobre reads: still well formed
    elif optional:
        assert_applied(outcome)
    elif kind is not None and not kind_path.endswith("[]"):
        assert_kept(outcome)  # a required field
    else:  # an item of a list, or a tag: kept, or applied to whom it still names
        assert outcome.kept == outcome.result["unprocessable"]


@FUZZ
@given(st.sampled_from(FIXTURES), st.data(), st.integers(2_000, 20_000))
def test_deep_nesting_anywhere_is_kept(name: str, data: st.DataObject, depth: int) -> None:
    w, targets = fresh()
    message = copy.deepcopy(targets[name].message)
    _, where = data.draw(st.sampled_from(paths(message)))
    put(message, where, "__DEEP__")
    raw = json.dumps(message).replace('"__DEEP__"', "[" * depth + "]" * depth)
    assert_kept(run(w, targets[name], message, raw))


@FUZZ
@given(st.sampled_from(FIXTURES), st.data(), st.integers(MAX_TEXT + 1, 20_000))
def test_huge_free_text_is_clipped_and_applies(name: str, data: st.DataObject, size: int) -> None:
    w, targets = fresh()
    message = copy.deepcopy(targets[name].message)
    texts = [(k, p) for k, p in paths(message) if KINDS.get(k) == "text"]
    if not texts:
        return
    _, where = data.draw(st.sampled_from(texts))
    put(message, where, "é" * size)
    assert_applied(run(w, targets[name], message))
    details = json.dumps([e.details for e in w.invoices.history(targets[name].invoice_id)])
    assert "é" * (MAX_TEXT + 1) not in details


@FUZZ
@given(st.sampled_from(FIXTURES), st.data())
def test_anything_anywhere_never_raises_and_a_kept_one_changes_nothing(
    name: str, data: st.DataObject
) -> None:
    w, targets = fresh()
    message = copy.deepcopy(targets[name].message)
    for _ in range(data.draw(st.integers(1, 3))):
        found = paths(message)
        if not found:
            break
        _, where = data.draw(st.sampled_from(found))
        put(message, where, data.draw(JSON | st.text(max_size=3000) | ODD_TIMES))
    outcome = run(w, targets[name], message)
    assert outcome.kept == outcome.result["unprocessable"]
    if outcome.kept:
        assert not outcome.changed


@FUZZ
@given(JSON | st.text(max_size=200), st.sampled_from(["Type", "Message", "Sns", None]))
def test_an_envelope_that_is_not_sns_is_kept(value: Any, field: str | None) -> None:
    w, targets = fresh()
    target = targets[FIXTURES[0]]
    event: dict[str, Any] = {"Records": [record(target.message)]}
    if field == "Sns":
        event["Records"][0]["Sns"] = value
    elif field is not None:
        event["Records"][0]["Sns"][field] = value
    else:
        event = {"Records": value}
    before = copy.deepcopy(w.invoices.invoices)
    result = ses_service.process_sns_event(w.ctx, event)
    if result["processed"]:  # the value happened to leave the record intact
        assert (field == "Type" and value == "Notification") or (
            field == "Message" and value == json.dumps(target.message)
        )
    else:
        assert result["unprocessable"] >= 1
        assert w.invoices.invoices == before


# -- a transient storage failure is the one thing that raises ----------------------------


class ThroughputExceeded(Exception):
    """Shaped as botocore's ClientError for a throttled DynamoDB request."""

    response: ClassVar[dict[str, Any]] = {
        "Error": {"Code": "ProvisionedThroughputExceededException"}
    }


class ItemTooLarge(Exception):
    response: ClassVar[dict[str, Any]] = {
        "Error": {"Code": "ValidationException"},
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


class DownStore(FakeInvoiceStore):
    """The world's invoice store (its items shared), failing every summary read."""

    def __init__(self, inner: FakeInvoiceStore, error: Exception) -> None:
        self.__dict__.update(inner.__dict__)
        self.error = error

    def get_summary(self, invoice_id: str, recipient_id: str | None = None) -> Any:
        raise self.error


def down_world(error: Exception) -> tuple[World, dict[str, Target]]:
    w, targets = fresh()
    w.ctx = make_context(
        invoices=DownStore(w.invoices, error),
        accounts=w.accounts,
        unprocessed=w.unprocessed,
        mailer=w.mailer,
        metrics=w.metrics,
        clock=w.clock,
    )
    return w, targets


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("DynamoDB did not answer"),
        ThroughputExceeded("throttled at 198.51.100.77"),
        ConnectionError("connection reset by 198.51.100.77"),
        TimeoutError("read timed out"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_transient_failure_raises_carrying_no_address(error: Exception) -> None:
    w, targets = down_world(error)
    with pytest.raises(Unavailable) as raised:
        ses_service.process_sns_event(w.ctx, {"Records": [record(targets[FIXTURES[1]].message)]})
    assert not re.search(r"\d+\.\d+\.\d+\.\d+", str(raised.value))
    assert w.unprocessed.items == {}


def test_a_permanent_storage_error_is_kept() -> None:
    w, targets = down_world(ItemTooLarge("item size has exceeded the maximum allowed size"))
    result = ses_service.process_sns_event(
        w.ctx, {"Records": [record(targets[FIXTURES[1]].message)]}
    )
    assert result["unprocessable"] == 1
    [kept] = w.unprocessed.items.values()
    assert "ItemTooLarge" in kept["reason"]


@FUZZ
@given(st.sampled_from(FIXTURES), st.data())
def test_with_storage_down_only_unavailable_escapes(name: str, data: st.DataObject) -> None:
    w, targets = down_world(ThroughputExceeded("throttled"))
    message = copy.deepcopy(targets[name].message)
    if data.draw(st.booleans()):
        kind_path, where = data.draw(st.sampled_from(paths(message)))
        put(message, where, data.draw(JSON | ODD_TIMES, label=kind_path))
    try:
        result = ses_service.process_sns_event(w.ctx, {"Records": [record(message)]})
    except Unavailable:
        return  # it reached the storage: Lambda retries
    assert result["unprocessable"] + result["ignored"] == 1
