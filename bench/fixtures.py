"""Inputs the sections share: invoice bodies, the SES notifications of
tests/fixtures/ses-events pointed at a given invoice, API Gateway proxy events, and
cheap copies of a realistic invoice."""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

from bench.core import ACCOUNT, ROOT, SENDER
from chalicelib import ids
from chalicelib.adapters.dynamo import invoices as dynamo_invoices
from chalicelib.adapters.dynamo import models
from chalicelib.core.model import Account, Invoice
from chalicelib.sending import service as sending_service

SES_EVENTS = ROOT / "tests" / "fixtures" / "ses-events"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/132.0.0.0 Safari/537.36"
)


def invoice_body(emails: list[str] | tuple[str, ...], pdf: bytes | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "number": "INV-2026-001",
        "customer": {"name": "Globex S.L."},
        "recipients": [{"email": e} for e in emails],
        "currency": "EUR",
        "total": "1210.00",
        "due_date": "2026-12-31",
        "lines": [{"description": "Consulting", "quantity": "10", "unit_price": "121.00"}],
    }
    if pdf is not None:
        body["pdf_base64"] = base64.b64encode(pdf).decode()
    return body


def pdf_of(size: int) -> bytes:
    """A PDF-looking attachment of ``size`` bytes (the API checks the magic only)."""
    head = b"%PDF-1.4\n"
    return head + b"0" * (size - len(head))


def emails(count: int) -> list[str]:
    return [f"person{n}@globex.example" for n in range(count)]


def account() -> Account:
    return Account(id=ACCOUNT, name=ACCOUNT, from_address=SENDER, created_at="2026-01-01T00:00:00Z")


@dataclass(frozen=True)
class SesCase:
    """One SES notification from tests/fixtures/ses-events, the recipients of the invoice
    it is pointed at, how it finds that invoice, and which recipient it is about."""

    label: str
    file: str
    recipients: tuple[str, ...]
    route_by: str  # "tags" (event publishing) or "message_id" (classic notification)
    routed: str
    # "DeliveryDelay": the Delivery fixture made a DeliveryDelay (SES documents the
    # event's shape, but no fixture of it is in tests/fixtures/ses-events).
    variant: str = ""


SES_CASES = (
    SesCase("Send", "event-send.awsdocs.json", ("recipient@example.com",), "tags", ""),
    SesCase("Delivery", "event-delivery.awsdocs.json", ("recipient@example.com",), "tags", ""),
    SesCase(
        "DeliveryDelay",
        "event-delivery.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "",
        "DeliveryDelay",
    ),
    SesCase("Complaint", "event-complaint.awsdocs.json", ("recipient@example.com",), "tags", ""),
    SesCase("Reject", "event-reject.awsdocs.json", ("sender@example.com",), "tags", ""),
    SesCase(
        "Rendering Failure",
        "event-rendering-failure.awsdocs.json",
        ("recipient@example.com",),
        "tags",
        "",
    ),
    SesCase(
        "Subscription", "event-subscription.awsdocs.json", ("recipient@example.com",), "tags", ""
    ),
    SesCase(
        "Bounce (event)",
        "sns-http-event-bounce-permanent-gmail.spatie.json",
        ("mcbounceface@spatie.be",),
        "tags",
        "",
    ),
    SesCase(
        "Open (event)", "sns-http-event-open-apple-mpp.spatie.json", ("rias@spatie.be",), "tags", ""
    ),
    SesCase("Click", "sns-http-event-click.spatie.json", ("hello@rias.be",), "tags", ""),
    SesCase(
        "Bounce (classic, 2 named)",
        "classic-bounce-permanent-no-dsn.awsdocs.json",
        ("jane@example.com", "mary@example.com", "richard@example.com"),
        "message_id",
        "jane@example.com",
    ),
    SesCase(
        "Bounce (classic, DSN)",
        "classic-bounce-permanent-with-dsn.awsdocs.json",
        ("jane@example.com", "mary@example.com", "richard@example.com"),
        "message_id",
        "jane@example.com",
    ),
    SesCase(
        "Complaint (classic)",
        "classic-complaint-with-feedback.awsdocs.json",
        ("jane@example.com", "mary@example.com", "richard@example.com"),
        "message_id",
        "richard@example.com",
    ),
    SesCase(
        "Delivery (classic)",
        "lambda-sns-classic-delivery-real.lambda-local.json",
        ("jeff@amazon.com",),
        "message_id",
        "jeff@amazon.com",
    ),
)


def _load(case: SesCase) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the decoded SES message, the SNS envelope it came in)."""
    raw = json.loads((SES_EVENTS / case.file).read_text())
    if "Records" in raw:
        envelope = raw["Records"][0]["Sns"]
        message, envelope = json.loads(envelope["Message"]), envelope
    elif "Type" in raw:
        message, envelope = json.loads(raw["Message"]), raw
    else:
        message, envelope = raw, {"Type": "Notification", "MessageId": "fixture", "Message": None}
    if case.variant == "DeliveryDelay":
        delivery = message.pop("delivery")
        message["eventType"] = "DeliveryDelay"
        message["deliveryDelay"] = {
            "timestamp": delivery["timestamp"],
            "delayType": "TransientCommunicationFailure",
            "expirationTime": delivery["timestamp"],
            "reportingMTA": delivery.get("reportingMTA"),
            "delayedRecipients": [
                {"emailAddress": r, "status": "4.4.1", "diagnosticCode": "smtp; 421 4.4.1"}
                for r in delivery["recipients"]
            ],
        }
    return message, envelope


_LOADED: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}
# The part of each event type's message that carries its own timestamp.
_TIMED_BODIES = (
    "delivery",
    "bounce",
    "complaint",
    "open",
    "click",
    "deliveryDelay",
    "subscription",
)


def ses_event(
    case: SesCase,
    invoice_id: str,
    recipient_id: str,
    message_id: str | None,
    at: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """The Lambda SNS event of ``case``, pointed at the invoice: by tags for event
    publishing, by SES message id (``message_id``) for classic notifications. ``at``
    moves its timestamps (the fixtures' are from 2016); ``email`` names the recipient
    of a Send or Delivery in place of the fixture's."""
    if (case.file, case.variant) not in _LOADED:
        _LOADED[(case.file, case.variant)] = _load(case)
    message, envelope = copy.deepcopy(_LOADED[(case.file, case.variant)])
    if at is not None:
        message["mail"]["timestamp"] = at
        for name in _TIMED_BODIES:
            if isinstance(message.get(name), dict) and "timestamp" in message[name]:
                message[name]["timestamp"] = at
    if email is not None:
        message["mail"]["destination"] = [email]
        if "delivery" in message:
            message["delivery"]["recipients"] = [email]
    if case.route_by == "tags":
        message["mail"].setdefault("tags", {}).update(
            {
                "sobre-account": [ACCOUNT],
                "sobre-invoice": [invoice_id],
                "sobre-recipient": [recipient_id],
            }
        )
    else:
        assert message_id is not None
        message["mail"]["messageId"] = message_id
    sns = {"Subject": None, "MessageAttributes": {}, **envelope}
    sns["Message"] = json.dumps(message)
    return {"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": sns}]}


def routed_email(case: SesCase) -> str:
    return case.routed or case.recipients[0]


def pixel_event(token: str, method: str = "GET") -> dict[str, Any]:
    """An API Gateway (REST, proxy) event for ``GET /t/{token}``, as Lambda receives it."""
    path = f"/t/{token}"
    return {
        "resource": "/t/{token}",
        "path": path,
        "httpMethod": method,
        "headers": {"accept": "image/webp,*/*", "user-agent": USER_AGENT},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"token": token},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/t/{token}",
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "203.0.113.77", "userAgent": USER_AGENT},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def door_pixel_event(token: str, method: str = "GET") -> dict[str, Any]:
    """The same request through the public door: an HTTP API event, payload 2.0."""
    path = f"/t/{token}"
    return {
        "version": "2.0",
        "routeKey": f"{method} /t/{{token}}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"accept": "image/webp,*/*", "user-agent": USER_AGENT},
        "pathParameters": {"token": token},
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
            "domainName": "t.example.com",
            "http": {"method": method, "path": path, "sourceIp": "203.0.113.77"},
        },
        "isBase64Encoded": False,
    }


class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "sobre-prod"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sobre-prod"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/sobre-prod"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def clone(template: Invoice, last_activity_at: str | None = None) -> Invoice:
    """A copy of ``template`` under a new invoice id (recipient ids only need to be
    unique within an invoice), not yet stored; ``last_activity_at`` also sets when its
    summary last changed (the list's order)."""
    invoice = copy.deepcopy(template)
    invoice.id = ids.new_invoice_id()
    invoice.version = None
    if last_activity_at is not None:
        invoice.last_activity_at = invoice.updated_at = last_activity_at
    return invoice


def sent_invoice(addresses: list[str] | tuple[str, ...]) -> Invoice:
    """An invoice as the service stores it after sending (in-memory fakes)."""
    from bench.core import quiet
    from tests.fakes import make_world

    world = make_world()
    owner = account()
    world.accounts.put_account(owner)
    with quiet():
        sent = sending_service.send_invoice(world.ctx, owner, invoice_body(list(addresses)), None)
    stored = world.invoices.get(sent.invoice.id)
    assert stored is not None
    return stored


def store_copies(template: Invoice, count: int) -> list[Invoice]:
    """``count`` copies of ``template`` written to the real table (its summary and
    content: two PutItem each; no facts, no counters)."""
    from bench.core import TABLE
    from chalicelib.settings import get_settings

    models.configure(TABLE, get_settings().aws_region)
    store = dynamo_invoices.DynamoInvoiceStore(180)
    copies = []
    for _ in range(count):
        invoice = clone(template)
        assert store.create(invoice)
        copies.append(invoice)
    return copies


def tokens_for(invoices: list[Invoice]) -> list[str]:
    """The pixel token of every recipient of every invoice (the bench's secret)."""
    from bench.core import TOKEN_SECRET
    from chalicelib.ids import TokenSigner

    signer = TokenSigner(TOKEN_SECRET.encode())
    return [signer.token_for(i.id, r.id, "pixel") for i in invoices for r in i.recipients]
