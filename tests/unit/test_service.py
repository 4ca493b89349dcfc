"""Sobre's use cases (chalicelib/sending, tracking, accounts, recording.py) over the
in-memory fakes in tests/fakes.py. No mocking: every port is a fake that behaves like
its adapter."""

from __future__ import annotations

import base64
import copy
import email
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from chalicelib.accounts import service as account_service
from chalicelib.core.model import (
    TAG_ACCOUNT,
    TAG_INVOICE,
    TAG_RECIPIENT,
    Account,
    Invoice,
    OutgoingEmail,
    TimelineEvent,
    iso,
)
from chalicelib.core.status import INLINE_EVENT_LIMIT, Fact, apply_fact
from chalicelib.errors import (
    ConcurrentUpdate,
    Conflict,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from chalicelib.ids import hash_api_key
from chalicelib.sending import queries as invoice_queries
from chalicelib.sending import service as sending_service
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service
from chalicelib.tracking.ses_events import parse_notification, sns_message_of
from tests.fakes import BASE_URL, FakeInvoiceStore, World, make_context, make_world

pytestmark = pytest.mark.disable_socket

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses-events"
PDF = b"%PDF-1.4\n% a tiny test document\n%%EOF\n"
# Real user agents (rows of tests/fixtures/user-agents.tsv).
UA_IOS_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
UA_OUTLOOK = (
    "Microsoft Office/16.0 (Microsoft Outlook 16.0.12329; Pro), "
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
)
UA_MPP = "Mozilla/5.0"  # Apple Mail Privacy Protection's prefetch
PIXEL = re.compile(r'<img[^>]+src="(?P<url>[^"]+/t/(?P<token>[^"/]+))"')
EMAILS = ("ana@example.com", "ben@example.net", "cleo@example.org")


def acme() -> Account:
    return Account(id="acme", name="Acme Ltd", from_address="billing@acme.example")


def globex() -> Account:
    return Account(id="globex", name="Globex", from_address="ar@globex.example")


@pytest.fixture
def world() -> World:
    w = make_world()
    w.accounts.put_account(acme())
    w.accounts.put_account(globex())
    return w


def invoice_body(*emails: str, **extra: Any) -> dict[str, Any]:
    return {
        "number": "INV-2026-0042",
        "customer": {"name": "Globex Corporation"},
        "recipients": [{"email": e, "name": e.split("@")[0].title()} for e in emails or EMAILS],
        "currency": "EUR",
        "total": "1234.50",
        "due_date": "2026-02-28",
        "lines": [{"description": "Design work", "quantity": "2", "unit_price": "617.25"}],
        **extra,
    }


def send(w: World, *emails: str, key: str | None = None, **extra: Any) -> Invoice:
    return sending_service.send_invoice(w.ctx, acme(), invoice_body(*emails, **extra), key).invoice


def stored(w: World, invoice_id: str) -> Invoice:
    invoice = w.invoices.get(invoice_id)
    assert invoice is not None
    return invoice


def mime(outgoing: OutgoingEmail) -> EmailMessage:
    message = email.message_from_bytes(outgoing.raw_mime, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def html_of(outgoing: OutgoingEmail) -> str:
    part = mime(outgoing).get_body(("html",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def pixel_token(outgoing: OutgoingEmail) -> str:
    found = PIXEL.search(html_of(outgoing))
    assert found is not None, "no tracking pixel in the HTML part"
    return found["token"]


def message_id_for(w: World, address: str) -> str:
    [(message_id, _)] = w.mailer.sent_to(address)
    return message_id


# -- SES notifications built from the real fixtures ---------------------------------------


def fixture_message(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    if "Records" in data:
        data = json.loads(sns_message_of(data["Records"][0]))
    elif "Message" in data:
        data = json.loads(data["Message"])
    assert isinstance(data, dict)
    return data


_RECIPIENT_LISTS = {
    "bounce": "bouncedRecipients",
    "complaint": "complainedRecipients",
    "deliveryDelay": "delayedRecipients",
}
_TIMED_BODIES = ("delivery", "bounce", "complaint", "open", "click", "deliveryDelay")


def ses_message(
    name: str,
    message_id: str,
    address: str,
    tags: dict[str, str] | None,
    at: str | None = None,
) -> dict[str, Any]:
    """The fixture ``name`` rewritten as if it reported on ``message_id`` to ``address``."""
    data = fixture_message(name)
    mail = data["mail"]
    mail["messageId"] = message_id
    mail["destination"] = [address]
    if tags is None:
        mail.pop("tags", None)
    else:
        mail.setdefault("tags", {}).update({k: [v] for k, v in tags.items()})
    for body, listed in _RECIPIENT_LISTS.items():
        if body in data:
            data[body][listed] = [{**data[body][listed][0], "emailAddress": address}]
    if "delivery" in data:
        data["delivery"]["recipients"] = [address]
    if at is not None:
        mail["timestamp"] = at
        for body in _TIMED_BODIES:
            if body in data:
                data[body]["timestamp"] = at
    return data


def tags_for(invoice: Invoice, address: str, account_id: str = "acme") -> dict[str, str]:
    recipient = invoice.recipient_by_email(address)
    assert recipient is not None
    return {TAG_ACCOUNT: account_id, TAG_INVOICE: invoice.id, TAG_RECIPIENT: recipient.id}


def tagged(w: World, invoice: Invoice, name: str, address: str, at: str | None = None) -> Any:
    return ses_message(name, message_id_for(w, address), address, tags_for(invoice, address), at)


def record(message: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "Sns": {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:sobre-ses-events",
            "Message": message if isinstance(message, str) else json.dumps(message),
        },
    }


def sns_event(*messages: dict[str, Any] | str) -> dict[str, Any]:
    return {"Records": [record(m) for m in messages]}


def outcome(**counts: int) -> dict[str, int]:
    return {"processed": 0, "duplicate": 0, "ignored": 0, "unprocessable": 0, **counts}


# -- send_invoice -------------------------------------------------------------------------


def test_send_invoice_stores_before_sending(world: World) -> None:
    seen: list[str] = []

    def check_stored(outgoing: OutgoingEmail) -> None:
        invoice = world.invoices.get(outgoing.tags[TAG_INVOICE])
        assert invoice is not None, "sent before the invoice was stored"
        recipient = invoice.recipient(outgoing.tags[TAG_RECIPIENT])
        assert recipient is not None
        assert recipient.email == outgoing.to_address
        seen.append(outgoing.to_address)

    world.mailer.before_send = check_stored
    invoice = send(world)
    assert seen == list(EMAILS)
    assert world.metrics.counts["InvoicesCreated"] == 1
    assert world.metrics.counts["InvoicesSent"] == 3
    assert invoice.status == "sent"


def test_one_message_per_recipient_with_tags_and_a_unique_pixel(world: World) -> None:
    invoice = send(world)
    assert [e.to_address for _, e in world.mailer.sent] == list(EMAILS)
    tokens: set[str] = set()
    for message_id, outgoing in world.mailer.sent:
        recipient = invoice.recipient_by_email(outgoing.to_address)
        assert recipient is not None
        assert recipient.message_id == message_id
        assert recipient.status == "sent"
        assert outgoing.from_address == "billing@acme.example"
        assert outgoing.tags == {
            TAG_ACCOUNT: "acme",
            TAG_INVOICE: invoice.id,
            TAG_RECIPIENT: recipient.id,
        }
        message = mime(outgoing)
        assert outgoing.to_address in str(message["To"])
        assert "INV-2026-0042" in str(message["Subject"])
        url = PIXEL.search(html_of(outgoing))
        assert url is not None
        assert url["url"].startswith(f"{BASE_URL}/t/")
        assert url["url"].endswith(".gif")
        token = url["token"].removesuffix(".gif")
        target = world.ctx.signer.verify(token)
        assert target is not None
        assert (target.invoice_id, target.recipient_id) == (invoice.id, recipient.id)
        # The pixel URL says nothing about the invoice.
        assert "INV-2026-0042" not in url["url"]
        assert all(e.split("@")[0] not in url["url"].lower() for e in EMAILS)
        tokens.add(token)
    assert len(tokens) == 3


def test_send_invoice_records_message_refs_for_classic_notifications(world: World) -> None:
    invoice = send(world)
    for message_id, outgoing in world.mailer.sent:
        ref = world.invoices.get_message_ref(message_id)
        assert ref is not None
        assert (ref.account_id, ref.invoice_id) == ("acme", invoice.id)
        assert ref.recipient_id == outgoing.tags[TAG_RECIPIENT]
        _, expires = world.invoices.refs[message_id]
        assert expires == world.ctx.expires_at(world.clock())


def test_stored_invoice_matches_the_returned_one(world: World) -> None:
    invoice = send(world)
    kept = stored(world, invoice.id)
    assert kept == invoice
    assert kept.version == 2  # created, then one save with every send outcome
    assert kept.account_id == "acme"
    assert kept.created_at == iso(world.clock())
    assert {e.type for e in kept.events} == {"created", "sent"}


def test_a_refused_recipient_fails_and_the_others_are_sent(world: World) -> None:
    world.mailer.refuse("ben@example.net", "MessageRejected: Address blacklisted.")
    invoice = send(world)
    by_email = {r.email: r for r in invoice.recipients}
    assert by_email["ben@example.net"].status == "failed"
    assert by_email["ben@example.net"].failure_reason == "MessageRejected: Address blacklisted."
    assert by_email["ben@example.net"].message_id is None
    assert by_email["ben@example.net"].send_attempts == 1
    assert by_email["ana@example.com"].status == "sent"
    assert by_email["cleo@example.org"].status == "sent"
    assert invoice.status == "sent"
    assert len(world.mailer.sent) == 2
    assert (
        stored(world, invoice.id).recipient_by_email("ben@example.net")
        == (by_email["ben@example.net"])
    )


def test_every_recipient_refused_makes_a_failed_invoice(world: World) -> None:
    for address in EMAILS:
        world.mailer.refuse(address)
    invoice = send(world)
    assert [r.status for r in invoice.recipients] == ["failed"] * 3
    assert invoice.status == "failed"
    assert world.invoices.refs == {}


def test_retry_failed_sends_only_to_the_failed_recipient(world: World) -> None:
    world.mailer.refuse("ben@example.net")
    invoice = send(world)
    assert len(world.mailer.sent) == 2
    world.mailer.accept("ben@example.net")
    world.clock.advance(minutes=5)
    retried = sending_service.retry_failed(world.ctx, acme(), invoice.id)
    assert len(world.mailer.sent) == 3
    assert world.mailer.sent[-1][1].to_address == "ben@example.net"
    ben = retried.recipient_by_email("ben@example.net")
    assert ben is not None
    assert ben.status == "sent"
    assert ben.send_attempts == 2
    assert ben.sent_at == iso(world.clock())
    assert ben.message_id == world.mailer.sent[-1][0]
    assert [r.send_attempts for r in retried.recipients] == [1, 2, 1]
    assert retried.status == "sent"
    assert stored(world, invoice.id) == retried


def test_retry_failed_still_refused_records_a_second_attempt(world: World) -> None:
    world.mailer.refuse("ben@example.net", "first")
    invoice = send(world)
    world.mailer.refuse("ben@example.net", "second")
    world.clock.advance(seconds=30)
    retried = sending_service.retry_failed(world.ctx, acme(), invoice.id)
    ben = retried.recipient_by_email("ben@example.net")
    assert ben is not None
    assert (ben.status, ben.send_attempts, ben.failure_reason) == ("failed", 2, "second")
    assert ben.failed_at == iso(world.clock())
    assert len([e for e in retried.events if e.type == "send_failed"]) == 2


def test_retry_failed_with_nothing_to_send_sends_nothing(world: World) -> None:
    invoice = send(world)
    saves = world.invoices.saves
    again = sending_service.retry_failed(world.ctx, acme(), invoice.id)
    assert len(world.mailer.sent) == 3
    assert world.invoices.saves == saves
    assert again == stored(world, invoice.id)


def test_retry_failed_attaches_the_stored_pdf_again(world: World) -> None:
    world.mailer.refuse("ben@example.net")
    invoice = send(world, pdf_base64=base64.b64encode(PDF).decode())
    assert invoice.has_pdf
    assert world.invoices.get_pdf(invoice) == PDF
    world.mailer.accept("ben@example.net")
    sending_service.retry_failed(world.ctx, acme(), invoice.id)
    attachments = list(mime(world.mailer.sent[-1][1]).iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    assert attachments[0].get_content() == PDF


def test_retry_failed_of_another_accounts_invoice_is_not_found(world: World) -> None:
    world.mailer.refuse("ben@example.net")
    invoice = send(world)
    with pytest.raises(NotFound):
        sending_service.retry_failed(world.ctx, globex(), invoice.id)
    assert len(world.mailer.sent) == 2


def test_idempotency_key_with_the_same_body_replays(world: World) -> None:
    first = sending_service.send_invoice(world.ctx, acme(), invoice_body(), "order-42")
    assert first.replayed is False
    saves, sent = world.invoices.saves, len(world.mailer.sent)
    world.clock.advance(minutes=1)
    # Same body with keys in another order: the same request.
    body = dict(reversed(list(invoice_body().items())))
    second = sending_service.send_invoice(world.ctx, acme(), body, "order-42")
    assert second.replayed is True
    assert second.invoice.id == first.invoice.id
    assert second.invoice == stored(world, first.invoice.id)
    assert len(world.mailer.sent) == sent == 3
    assert world.invoices.saves == saves
    assert len(world.invoices.invoices) == 1
    assert world.metrics.counts["InvoicesCreated"] == 1


def test_idempotency_key_with_another_body_conflicts(world: World) -> None:
    first = send(world, key="order-42")
    before = stored(world, first.id)
    with pytest.raises(Conflict) as caught:
        sending_service.send_invoice(world.ctx, acme(), invoice_body(total="1.00"), "order-42")
    assert caught.value.details == {"idempotency_key": "order-42", "invoice_id": first.id}
    assert len(world.mailer.sent) == 3
    assert stored(world, first.id) == before


def test_idempotency_keys_are_per_account(world: World) -> None:
    mine = sending_service.send_invoice(world.ctx, acme(), invoice_body(), "order-42").invoice
    theirs = sending_service.send_invoice(world.ctx, globex(), invoice_body(), "order-42")
    assert theirs.replayed is False
    assert theirs.invoice.id != mine.id
    assert len(world.mailer.sent) == 6


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_idempotency_key(world: World, key: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        sending_service.send_invoice(world.ctx, acme(), invoice_body(), key)
    assert caught.value.details == [
        {"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}
    ]
    assert world.invoices.invoices == {}
    assert world.mailer.sent == []


def test_invalid_body_stores_and_sends_nothing(world: World) -> None:
    with pytest.raises(ValidationFailed):
        sending_service.send_invoice(world.ctx, acme(), invoice_body(currency="eur"), None)
    assert world.invoices.invoices == {}
    assert world.mailer.sent == []


def test_tracking_false_sends_no_pixel(world: World) -> None:
    invoice = send(world, tracking=False)
    assert invoice.tracking is False
    for _, outgoing in world.mailer.sent:
        html = html_of(outgoing)
        assert PIXEL.search(html) is None
        assert "/t/" not in html


def test_account_without_tracking_sends_no_pixel_unless_asked(world: World) -> None:
    quiet = Account(id="quiet", name="Quiet", from_address="q@quiet.example", tracking=False)
    world.accounts.put_account(quiet)
    sending_service.send_invoice(world.ctx, quiet, invoice_body("a@example.com"), None)
    assert PIXEL.search(html_of(world.mailer.sent[-1][1])) is None
    sending_service.send_invoice(
        world.ctx, quiet, invoice_body("b@example.com", tracking=True), None
    )
    assert PIXEL.search(html_of(world.mailer.sent[-1][1])) is not None


# -- the pixel ----------------------------------------------------------------------------


def test_pixel_open_counts_for_exactly_that_recipient(world: World) -> None:
    invoice = send(world)
    [(_, to_ben)] = [(m, e) for m, e in world.mailer.sent if e.to_address == "ben@example.net"]
    world.clock.advance(hours=2)
    recorded = tracking_service.record_pixel_open(
        world.ctx, pixel_token(to_ben), UA_IOS_MAIL, "203.0.113.77", "GET", "req-1"
    )
    assert recorded is True
    after = stored(world, invoice.id)
    assert [r.open_count for r in after.recipients] == [0, 1, 0]
    assert [r.machine_open_count for r in after.recipients] == [0, 0, 0]
    ben = after.recipient_by_email("ben@example.net")
    assert ben is not None
    assert ben.status == "opened"
    assert ben.first_opened_at == iso(world.clock())
    assert after.status == "opened"
    [opened] = [e for e in after.events if e.type == "open"]
    assert opened.details == {
        "user_agent": UA_IOS_MAIL,
        "ip": "203.0.113.0/24",
        "method": "GET",
        "verdict": "human",
        "confidence": 0.85,
        "reasons": ["ua:client:browser", "first-fetch", "after-send:7200s"],
    }
    assert world.metrics.counts["OpensRecorded"] == 1


def test_a_machines_pixel_fetch_is_recorded_but_not_opened(world: World) -> None:
    invoice = send(world, "ana@example.com")
    token = pixel_token(world.mailer.sent[0][1])
    world.clock.advance(seconds=13)
    assert tracking_service.record_pixel_open(
        world.ctx, token, UA_MPP, "104.28.40.7", "GET", "req-1"
    )
    after = stored(world, invoice.id)
    [ana] = after.recipients
    assert (ana.open_count, ana.machine_open_count) == (0, 1)
    assert ana.first_machine_open_at == iso(world.clock())
    assert (ana.first_opened_at, ana.status, after.status) == (None, "sent", "sent")
    [opened] = [e for e in after.events if e.type == "open"]
    assert opened.details["verdict"] == "privacy_prefetch"
    assert world.metrics.counts["OpensRecorded"] == 1


@pytest.mark.parametrize(
    ("user_agent", "person", "machine"),
    [(UA_OUTLOOK, 3, 0), ("UA", 0, 3)],  # an unrecognised agent is not counted as a person
)
def test_every_pixel_fetch_is_an_open(
    world: World, user_agent: str, person: int, machine: int
) -> None:
    send(world, "ana@example.com")
    token = pixel_token(world.mailer.sent[0][1])
    for number in range(3):
        world.clock.advance(minutes=10)
        assert tracking_service.record_pixel_open(
            world.ctx, token, user_agent, None, "GET", f"req-{number}"
        )
    [invoice] = world.invoices.invoices.values()
    recipient = invoice.recipients[0]
    assert (recipient.open_count, recipient.machine_open_count) == (person, machine)
    assert len([e for e in invoice.events if e.type == "open"]) == 3


def test_tampered_token_is_refused_without_touching_the_store(world: World) -> None:
    invoice = send(world)
    token = pixel_token(world.mailer.sent[0][1]).removesuffix(".gif")
    before, saves = stored(world, invoice.id), world.invoices.saves
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for forged in (tampered + ".gif", "", "x.gif", token[:-2]):
        assert (
            tracking_service.record_pixel_open(world.ctx, forged, "UA", None, "GET", "r") is False
        )
    assert stored(world, invoice.id) == before
    assert world.invoices.saves == saves
    assert world.metrics.counts["PixelTokenRejected"] == 4
    assert world.metrics.counts["OpensRecorded"] == 0


def test_genuine_token_of_an_unknown_invoice_is_refused(world: World) -> None:
    token = world.ctx.signer.token_for("inv_" + "a" * 26, "rcp_" + "b" * 16)
    assert tracking_service.record_pixel_open(world.ctx, token, "UA", None, "GET", "r") is False
    assert world.invoices.invoices == {}
    assert world.metrics.counts["OpensRecorded"] == 0


def test_pixel_open_of_an_invoice_without_tracking_records_nothing(world: World) -> None:
    invoice = send(world, tracking=False)
    token = world.ctx.signer.token_for(invoice.id, invoice.recipients[0].id)
    tracking_service.record_pixel_open(world.ctx, token, "UA", None, "GET", "r")
    after = stored(world, invoice.id)
    assert after.open_count == 0
    assert after == invoice


# -- SES events ---------------------------------------------------------------------------


def three_record_event(w: World, invoice: Invoice) -> dict[str, Any]:
    return sns_event(
        tagged(w, invoice, "event-delivery.awsdocs.json", "ana@example.com"),
        tagged(w, invoice, "sns-http-event-open-apple-mpp.spatie.json", "ben@example.net"),
        tagged(w, invoice, "sns-http-event-bounce-permanent-gmail.spatie.json", "cleo@example.org"),
    )


def test_a_three_record_event_processes_all_three(world: World) -> None:
    invoice = send(world)
    result = ses_service.process_sns_event(world.ctx, three_record_event(world, invoice))
    assert result == outcome(processed=3)
    after = stored(world, invoice.id)
    # Ben's open is Apple's privacy prefetch (user agent "Mozilla/5.0"): not a person's.
    assert [r.status for r in after.recipients] == ["delivered", "sent", "bounced"]
    assert [(r.open_count, r.machine_open_count) for r in after.recipients] == [
        (0, 0),
        (0, 1),
        (0, 0),
    ]
    assert after.status == "delivered"
    cleo = after.recipients[2]
    assert cleo.bounce is not None
    assert cleo.bounce["type"] == "Permanent"
    assert "NoSuchUser" in cleo.bounce["diagnostic"]
    dimensions = sorted(
        d["eventType"] for name, _, d in world.metrics.calls if name == "SesEventsProcessed"
    )
    assert dimensions == ["bounce", "delivery", "open"]


def test_duplicate_events_change_nothing_after_the_first(world: World) -> None:
    invoice = send(world)
    event = three_record_event(world, invoice)
    assert ses_service.process_sns_event(world.ctx, event) == outcome(processed=3)
    after_first = copy.deepcopy(world.invoices.invoices[invoice.id])
    saves = world.invoices.saves
    for _ in range(2):
        world.clock.advance(minutes=3)
        assert ses_service.process_sns_event(world.ctx, event) == outcome(duplicate=3)
    assert world.invoices.invoices[invoice.id] == after_first
    assert world.invoices.saves == saves


def test_the_same_record_three_times_in_one_event(world: World) -> None:
    invoice = send(world)
    delivery = tagged(world, invoice, "event-delivery.awsdocs.json", "ana@example.com")
    result = ses_service.process_sns_event(world.ctx, sns_event(delivery, delivery, delivery))
    assert result == outcome(processed=1, duplicate=2)
    assert len([e for e in stored(world, invoice.id).events if e.type == "delivery"]) == 1


def test_unprocessable_payloads_are_kept_and_counted(world: World) -> None:
    send(world)
    validation = json.loads(
        (FIXTURES / "sns-http-ses-topic-validation.localstack-snapshot.json").read_text()
    )
    confirmation = json.loads(
        (FIXTURES / "sns-http-subscription-confirmation.spatie.json").read_text()
    )
    inbound = json.loads(
        (FIXTURES / "lambda-ses-inbound-receipt-NOT-a-notification.powertools.json").read_text()
    )["Records"][0]
    moto = json.loads(
        (FIXTURES / "moto-5.2.5-sqs-body-identity-bounce.NOT-AWS-FORMAT.json").read_text()
    )
    records = [{"Sns": validation}, {"Sns": confirmation}, inbound, {"Sns": moto}]
    unknown = fixture_message("event-delivery.awsdocs.json")
    unknown["eventType"] = "Teleport"
    records.append(record(unknown))
    before = copy.deepcopy(world.invoices.invoices)
    result = ses_service.process_sns_event(world.ctx, {"Records": records})
    assert result == outcome(unprocessable=5)
    assert world.metrics.counts["SesEventsUnprocessable"] == 5
    kept = world.unprocessed.list_unprocessed(10)
    assert len(kept) == 5
    payloads = [json.loads(k["payload"]) for k in kept]
    for original in records:
        assert original in payloads
    assert all(k["reason"] for k in kept)
    assert any("SubscriptionConfirmation" in k["reason"] for k in kept)
    assert any("Teleport" in k["reason"] for k in kept)
    assert world.invoices.invoices == before


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "x"}, {"records": [1]}])
def test_event_without_records_is_kept(world: World, event: dict[str, Any]) -> None:
    assert ses_service.process_sns_event(world.ctx, event) == outcome(unprocessable=1)
    [kept] = world.unprocessed.list_unprocessed(10)
    assert json.loads(kept["payload"]) == event
    assert world.metrics.counts["SesEventsUnprocessable"] == 1


def test_one_bad_record_does_not_stop_the_others(world: World) -> None:
    invoice = send(world)
    good = tagged(world, invoice, "event-delivery.awsdocs.json", "ana@example.com")
    result = ses_service.process_sns_event(world.ctx, sns_event("not json", good))
    assert result == outcome(processed=1, unprocessable=1)
    assert stored(world, invoice.id).recipients[0].status == "delivered"


def test_kept_payload_can_be_replayed(world: World) -> None:
    invoice = send(world)
    good = record(tagged(world, invoice, "event-delivery.awsdocs.json", "ana@example.com"))
    assert ses_service.replay_payload(world.ctx, json.dumps(good)) == "processed"
    assert ses_service.replay_payload(world.ctx, json.dumps(good)) == "duplicate"
    assert ses_service.replay_payload(world.ctx, "{").startswith("unprocessable")


def test_events_for_unknown_message_ids_are_ignored(world: World) -> None:
    invoice = send(world)
    before = stored(world, invoice.id)
    classic = ses_message(
        "classic-bounce-permanent-with-dsn.awsdocs.json",
        "0100-not-ours-000000",
        "ana@example.com",
        tags=None,
    )
    result = ses_service.process_sns_event(world.ctx, sns_event(classic))
    assert result == outcome(ignored=1)
    assert world.metrics.counts["SesEventsIgnored"] == 1
    assert stored(world, invoice.id) == before


def test_events_for_unknown_invoices_or_other_accounts_are_ignored(world: World) -> None:
    invoice = send(world)
    before = stored(world, invoice.id)
    address = "ana@example.com"
    unknown_invoice = ses_message(
        "event-delivery.awsdocs.json",
        message_id_for(world, address),
        address,
        {**tags_for(invoice, address), TAG_INVOICE: "inv_" + "z" * 26},
    )
    other_account = ses_message(
        "event-delivery.awsdocs.json",
        message_id_for(world, address),
        address,
        tags_for(invoice, address, account_id="globex"),
    )
    result = ses_service.process_sns_event(world.ctx, sns_event(unknown_invoice, other_account))
    assert result == outcome(ignored=2)
    assert stored(world, invoice.id) == before


def test_classic_notification_maps_back_through_the_message_id(world: World) -> None:
    invoice = send(world)
    address = "ben@example.net"
    classic = ses_message(
        "classic-bounce-permanent-with-dsn.awsdocs.json",
        message_id_for(world, address),
        address,
        tags=None,
        at=iso(world.clock() + timedelta(seconds=40)),
    )
    assert "tags" not in classic["mail"]
    result = ses_service.process_sns_event(world.ctx, sns_event(classic))
    assert result == outcome(processed=1)
    after = stored(world, invoice.id)
    assert [r.status for r in after.recipients] == ["sent", "bounced", "sent"]
    ben = after.recipients[1]
    assert ben.bounced_at == iso(world.clock() + timedelta(seconds=40))
    assert ben.bounce == {
        "type": "Permanent",
        "subtype": "General",
        "diagnostic": "smtp; 550 5.1.1 <jane@example.com>... User",
    }


def test_classic_delivery_from_a_real_lambda_event(world: World) -> None:
    invoice = send(world)
    address = "cleo@example.org"
    lambda_event = json.loads(
        (FIXTURES / "lambda-sns-classic-delivery-real.lambda-local.json").read_text()
    )
    message = json.loads(lambda_event["Records"][0]["Sns"]["Message"])
    message["mail"]["messageId"] = message_id_for(world, address)
    message["mail"]["destination"] = [address]
    message["delivery"]["recipients"] = [address]
    lambda_event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    assert ses_service.process_sns_event(world.ctx, lambda_event) == outcome(processed=1)
    cleo = stored(world, invoice.id).recipients[2]
    assert cleo.status == "delivered"
    assert cleo.delivered_at == "2017-07-05T20:01:21.302Z"


@pytest.mark.parametrize(
    ("user_agent", "person", "machine"),
    [(UA_MPP, 0, 1), (UA_IOS_MAIL, 1, 0)],  # Apple's prefetch; a person on iOS Mail
)
def test_ses_open_and_pixel_open_of_one_fetch_count_once(
    world: World, user_agent: str, person: int, machine: int
) -> None:
    invoice = send(world, "ana@example.com")
    token = pixel_token(world.mailer.sent[0][1])
    world.clock.advance(minutes=30)
    assert tracking_service.record_pixel_open(
        world.ctx, token, user_agent, "104.28.40.7", "GET", "r1"
    )
    ses_open = tagged(
        world,
        invoice,
        "sns-http-event-open-apple-mpp.spatie.json",
        "ana@example.com",
        at=iso(world.clock() + timedelta(seconds=20)),
    )
    ses_open["open"]["userAgent"] = user_agent
    assert ses_service.process_sns_event(world.ctx, sns_event(ses_open)) == outcome(processed=1)
    after = stored(world, invoice.id)
    assert (after.open_count, after.machine_open_count) == (person, machine)
    assert len([e for e in after.events if e.type == "open"]) == 2


def test_timeline_over_the_inline_limit_is_archived_and_complete(world: World) -> None:
    invoice = send(world, "ana@example.com")
    first = iso(world.clock() + timedelta(seconds=61))
    for number in range(INLINE_EVENT_LIMIT + 30):
        world.clock.advance(seconds=61)
        assert tracking_service.record_pixel_open(
            world.ctx,
            pixel_token(world.mailer.sent[0][1]),
            UA_OUTLOOK,
            None,
            "GET",
            f"req-{number}",
        )
    after = stored(world, invoice.id)
    assert after.archive_pages >= 1
    assert len(after.events) <= INLINE_EVENT_LIMIT
    assert after.open_count == INLINE_EVENT_LIMIT + 30
    assert after.machine_open_count == 0
    assert (after.first_opened_at, after.last_opened_at) == (first, iso(world.clock()))
    full, timeline = invoice_queries.get_invoice_with_timeline(world.ctx, acme(), invoice.id)
    keys = [e.key for e in timeline]
    assert len(keys) == len(set(keys)) == INLINE_EVENT_LIMIT + 30 + 2  # + created, sent
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)
    assert full == after


# -- concurrent writers -------------------------------------------------------------------


class RacingInvoiceStore(FakeInvoiceStore):
    """Runs ``race`` once, just before the next save: another Lambda that read the same
    invoice wins the write, and this save then loses its optimistic lock."""

    def __init__(self) -> None:
        super().__init__()
        self.race: Callable[[], object] | None = None

    def save(self, invoice: Invoice, archive: list[TimelineEvent]) -> None:
        race, self.race = self.race, None
        if race is not None:
            race()
        super().save(invoice, archive)


def racing_world() -> tuple[World, RacingInvoiceStore]:
    invoices = RacingInvoiceStore()
    w = make_world()
    w.invoices = invoices
    w.ctx = make_context(
        invoices=invoices,
        accounts=w.accounts,
        unprocessed=w.unprocessed,
        mailer=w.mailer,
        metrics=w.metrics,
        clock=w.clock,
    )
    w.accounts.put_account(acme())
    return w, invoices


def test_a_lost_race_is_retried_and_both_changes_are_kept() -> None:
    w, invoices = racing_world()
    invoice = send(w)
    ana = tagged(w, invoice, "event-delivery.awsdocs.json", "ana@example.com")
    ben = tagged(w, invoice, "event-delivery.awsdocs.json", "ben@example.net")
    other: list[dict[str, int]] = []
    invoices.race = lambda: other.append(ses_service.process_sns_event(w.ctx, sns_event(ben)))
    assert ses_service.process_sns_event(w.ctx, sns_event(ana)) == outcome(processed=1)
    assert other == [outcome(processed=1)]
    assert invoices.conflicts == 1
    after = stored(w, invoice.id)
    assert [r.status for r in after.recipients] == ["delivered", "delivered", "sent"]


def test_save_with_a_stale_version_raises_concurrent_update() -> None:
    store = FakeInvoiceStore()
    w = make_world()
    invoice = send(w)
    assert store.create(copy.deepcopy(invoice), None) is True
    assert store.create(copy.deepcopy(invoice), None) is False
    first, second = store.get(invoice.id), store.get(invoice.id)
    assert first is not None
    assert second is not None
    assert first.version == second.version == 1
    store.save(first, [])
    assert first.version == 2
    with pytest.raises(ConcurrentUpdate):
        store.save(second, [])
    assert second.version == 1
    assert store.get(invoice.id) == first


def test_the_same_event_delivered_twice_concurrently_is_processed_once() -> None:
    w, invoices = racing_world()
    invoice = send(w)
    delivery = sns_event(tagged(w, invoice, "event-delivery.awsdocs.json", "ana@example.com"))
    other: list[dict[str, int]] = []
    invoices.race = lambda: other.append(ses_service.process_sns_event(w.ctx, delivery))
    mine = ses_service.process_sns_event(w.ctx, delivery)
    assert other == [outcome(processed=1)]
    assert mine == outcome(duplicate=1)


def test_archiving_during_a_lost_race_keeps_every_event_once() -> None:
    w, invoices = racing_world()
    invoice = send(w, "ana@example.com")
    recipient_id = invoice.recipients[0].id
    # Fill the inline timeline to the limit with opens an hour later.
    full = stored(w, invoice.id)
    for number in range(INLINE_EVENT_LIMIT - len(full.events)):
        moment = iso(w.clock() + timedelta(hours=1, minutes=number))
        apply_fact(full, Fact(f"px-{number}", "open", moment, recipient_id, "pixel", {}))
    invoices.save(full, [])
    assert len(stored(w, invoice.id).events) == INLINE_EVENT_LIMIT
    # Another Lambda records a new open; this one records the delivery, which SES
    # timestamped before every open. Both cross the limit and archive page 1.
    token = w.ctx.signer.token_for(invoice.id, recipient_id)
    w.clock.advance(hours=6)
    invoices.race = lambda: tracking_service.record_pixel_open(
        w.ctx, token, "UA", None, "GET", "late"
    )
    delivery = tagged(
        w,
        invoice,
        "event-delivery.awsdocs.json",
        "ana@example.com",
        at=iso(w.clock() - timedelta(hours=6) + timedelta(seconds=5)),
    )
    assert ses_service.process_sns_event(w.ctx, sns_event(delivery)) == outcome(processed=1)
    assert invoices.conflicts == 1
    [delivery_event] = parse_notification(json.dumps(delivery)).events
    expected = {e.key for e in full.events} | {"px-late", delivery_event.key}
    assert len(expected) == INLINE_EVENT_LIMIT + 2
    _, timeline = invoice_queries.get_invoice_with_timeline(w.ctx, acme(), invoice.id)
    # Each event exactly once: none lost, none twice.
    assert Counter(e.key for e in timeline) == Counter(expected)


# -- authentication and API keys ----------------------------------------------------------


def test_create_api_key_then_authenticate(world: World) -> None:
    key = account_service.create_api_key(
        world.accounts, world.clock(), "initech", "AP@Initech.Example"
    )
    assert key.startswith("sobre_")
    assert hash_api_key(key) in world.accounts.keys
    assert key not in world.accounts.keys  # only the hash is stored
    account = account_service.authenticate(world.ctx, f"Bearer {key}")
    assert account.id == "initech"
    assert account.from_address == "AP@initech.example"
    assert account_service.authenticate(world.ctx, f"bearer   {key} ").id == "initech"


@pytest.mark.parametrize(
    ("account_id", "sender", "field"),
    [
        ("", "a@example.com", "account"),
        ("has space", "a@example.com", "account"),
        ("x" * 65, "a@example.com", "account"),
        ("newco", None, "from"),
        ("newco", "not an address", "from"),
    ],
)
def test_create_api_key_validation(
    world: World, account_id: str, sender: str | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        account_service.create_api_key(world.accounts, world.clock(), account_id, sender)
    assert [d["field"] for d in caught.value.details] == [field]
    assert world.accounts.keys == {}


def test_second_key_for_an_existing_account_needs_no_sender(world: World) -> None:
    first = account_service.create_api_key(world.accounts, world.clock(), "acme", None)
    second = account_service.create_api_key(world.accounts, world.clock(), "acme", None)
    assert first != second
    assert account_service.authenticate(world.ctx, f"Bearer {first}").id == "acme"
    assert account_service.authenticate(world.ctx, f"Bearer {second}").id == "acme"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic YWNtZTpzZWNyZXQ=",
        "Token sobre_abc",
        "sobre_abc",
        "Bearer sobre_wrong_key_000000000000000000",
    ],
)
def test_missing_malformed_or_wrong_keys_are_unauthorized(world: World, header: str | None) -> None:
    account_service.create_api_key(world.accounts, world.clock(), "acme", None)
    with pytest.raises(Unauthorized):
        account_service.authenticate(world.ctx, header)


def test_key_of_a_deleted_account_or_revoked_key_is_unauthorized(world: World) -> None:
    orphan = account_service.create_api_key(world.accounts, world.clock(), "gone", "g@gone.example")
    del world.accounts.accounts["gone"]
    with pytest.raises(Unauthorized):
        account_service.authenticate(world.ctx, f"Bearer {orphan}")
    revoked = account_service.create_api_key(world.accounts, world.clock(), "acme", None)
    world.accounts.revoke(hash_api_key(revoked))
    with pytest.raises(Unauthorized):
        account_service.authenticate(world.ctx, f"Bearer {revoked}")


# -- queries ------------------------------------------------------------------------------


def test_get_invoice_of_another_account_is_not_found(world: World) -> None:
    invoice = send(world)
    assert invoice_queries.get_invoice(world.ctx, acme(), invoice.id) == stored(world, invoice.id)
    with pytest.raises(NotFound):
        invoice_queries.get_invoice(world.ctx, globex(), invoice.id)
    with pytest.raises(NotFound):
        invoice_queries.get_invoice_with_timeline(world.ctx, globex(), invoice.id)


@pytest.mark.parametrize("invoice_id", ["", "inv_" + "z" * 26, "INVOICE#x", "rcp_abc"])
def test_get_unknown_invoice_is_not_found(world: World, invoice_id: str) -> None:
    send(world)
    with pytest.raises(NotFound):
        invoice_queries.get_invoice(world.ctx, acme(), invoice_id)


def _send_many(w: World, count: int) -> list[Invoice]:
    sent = []
    for number in range(count):
        w.clock.advance(minutes=1)
        body = invoice_body(f"r{number}@example.com", number=f"INV-{number:03d}")
        sent.append(sending_service.send_invoice(w.ctx, acme(), body, None).invoice)
    return sent


def test_list_invoices_newest_first_across_pages(world: World) -> None:
    sent = _send_many(world, 7)
    sending_service.send_invoice(world.ctx, globex(), invoice_body(), None)  # not listed for acme
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        items, cursor = invoice_queries.list_invoices(world.ctx, acme(), None, "3", cursor)
        pages += 1
        assert len(items) <= 3
        seen.extend(i.id for i in items)
        if cursor is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert pages == 3
    assert seen == [i.id for i in reversed(sent)]


def test_list_invoices_by_status(world: World) -> None:
    world.mailer.refuse("r1@example.com")
    sent = _send_many(world, 3)
    failed, _ = invoice_queries.list_invoices(world.ctx, acme(), "failed", None, None)
    assert [i.id for i in failed] == [sent[1].id]
    delivered_now, _ = invoice_queries.list_invoices(world.ctx, acme(), "sent", None, None)
    assert [i.id for i in delivered_now] == [sent[2].id, sent[0].id]
    assert invoice_queries.list_invoices(world.ctx, acme(), "opened", None, None) == ([], None)


def test_cursor_of_one_query_is_refused_by_another(world: World) -> None:
    _send_many(world, 3)
    _, cursor = invoice_queries.list_invoices(world.ctx, acme(), "sent", "1", None)
    assert cursor is not None
    with pytest.raises(ValidationFailed) as caught:
        invoice_queries.list_invoices(world.ctx, acme(), None, "1", cursor)
    assert [d["field"] for d in caught.value.details] == ["cursor"]
    with pytest.raises(ValidationFailed):
        invoice_queries.list_invoices(world.ctx, globex(), "sent", "1", cursor)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    ("status", "limit", "cursor", "fields"),
    [
        ("lost", None, None, ["status"]),
        ("SENT", None, None, ["status"]),
        ("", None, None, ["status"]),
        (None, "0", None, ["limit"]),
        (None, "101", None, ["limit"]),
        (None, "-1", None, ["limit"]),
        (None, "ten", None, ["limit"]),
        (None, "", None, ["limit"]),
        (None, "\u0661", None, ["limit"]),
        (None, None, "!!!!", ["cursor"]),
        (None, None, "not-a-cursor", ["cursor"]),
        (None, None, _b64(b"[1, 2]"), ["cursor"]),
        (None, None, _b64(b'"acme#0"'), ["cursor"]),
        (None, None, _b64(b"{broken"), ["cursor"]),
        (None, None, _b64(b"\xff\xfe\x00"), ["cursor"]),
        (None, None, _b64(b'{"globex#0": 1}'), ["cursor"]),
        ("bogus", "0", "%%%", ["status", "limit", "cursor"]),
    ],
)
def test_list_invoices_validation(
    world: World, status: str | None, limit: str | None, cursor: str | None, fields: list[str]
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        invoice_queries.list_invoices(world.ctx, acme(), status, limit, cursor)
    assert [d["field"] for d in caught.value.details] == fields


@pytest.mark.parametrize("limit", ["1", "100"])
def test_list_invoices_limit_bounds_are_accepted(world: World, limit: str) -> None:
    _send_many(world, 2)
    items, _ = invoice_queries.list_invoices(world.ctx, acme(), None, limit, None)
    assert len(items) == min(int(limit), 2)
