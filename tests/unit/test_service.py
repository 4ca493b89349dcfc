"""Sobre's use cases (chalicelib/sending, tracking, recording.py) over the in-memory
fakes in tests/fakes.py: an invoice is a summary, a counters item per recipient and an
item per fact. No mocking: every port is a fake that behaves like its adapter. The
recording guarantees (exactly once, re-judging) are in test_recording.py."""

from __future__ import annotations

import base64
import copy
import email
import json
import re
import uuid
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core import history
from chalicelib.core.model import (
    TAG_ACCOUNT,
    TAG_INVOICE,
    TAG_RECIPIENT,
    Account,
    Invoice,
    OutgoingEmail,
    iso,
)
from chalicelib.core.stored import pdf_key
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.ids import Purpose
from chalicelib.sending import queries as invoice_queries
from chalicelib.sending import service as sending_service
from chalicelib.sending import views
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service
from chalicelib.tracking.facts import FetchRequest
from chalicelib.tracking.ses_events import sns_message_of
from tests.fakes import BASE_URL, World, make_world

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
UA_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Safari/605.1.15"
)
UA_MPP = "Mozilla/5.0"  # Apple Mail Privacy Protection's prefetch
IP = "203.0.113.77"
PIXEL = re.compile(r'<img[^>]+src="(?P<url>[^"]+/t/(?P<token>[^"/]+))"')
EMAILS = ("ana@example.com", "ben@example.net", "cleo@example.org")


def acme() -> Account:
    return Account(id="acme", name="Acme Ltd", from_address="billing@acme.example")


def globex() -> Account:
    return Account(id="globex", name="Globex", from_address="ar@globex.example")


def new_world() -> World:
    w = make_world()
    w.accounts.put_account(acme())
    w.accounts.put_account(globex())
    return w


@pytest.fixture
def world() -> World:
    return new_world()


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
    """POST /invoices, then the sender's run of its queued sends (the world's queue
    delivers as soon as a message is queued): the invoice as stored after both."""
    answer = sending_service.send_invoice(w.ctx, acme(), invoice_body(*emails, **extra), key)
    assert all(r.status == "queued" for r in answer.invoice.recipients) or answer.replayed
    return stored(w, answer.invoice.id)


def stored(w: World, invoice_id: str) -> Invoice:
    """The whole invoice as the API reads it: summary, content and counters."""
    invoice = w.invoices.get(invoice_id)
    assert invoice is not None
    return invoice


def summary_item(w: World, invoice_id: str) -> Invoice:
    """The summary as kept in the store (no counters), to compare before and after."""
    return copy.deepcopy(w.invoices.invoices[invoice_id])


def facts_of(w: World, invoice_id: str, type_: str | None = None) -> list[Any]:
    return [e for e in w.invoices.history(invoice_id) if type_ is None or e.type == type_]


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


def token_to(w: World, address: str) -> str:
    [(_, outgoing)] = w.mailer.sent_to(address)
    return pixel_token(outgoing)


def link_token(w: World, invoice: Invoice, address: str, purpose: Purpose = "view") -> str:
    """The recipient's view-link token (or, with ``purpose``, its pixel token)."""
    recipient = invoice.recipient_by_email(address)
    assert recipient is not None
    return w.ctx.signer.token_for(invoice.id, recipient.id, purpose)


def open_pixel(w: World, address: str, ua: str = UA_IOS_MAIL, request: str = "r1") -> bool:
    return tracking_service.record_pixel_open(w.ctx, token_to(w, address), ua, IP, "GET", request)


def fetch(ua: str = UA_SAFARI, request: str = "v1") -> FetchRequest:
    return FetchRequest(ua, IP, "GET", request)


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
_TIMED_BODIES = (
    "delivery",
    "bounce",
    "complaint",
    "open",
    "click",
    "deliveryDelay",
    "subscription",
)
DELIVERY = "event-delivery.awsdocs.json"
SES_OPEN = "sns-http-event-open-apple-mpp.spatie.json"
BOUNCE = "sns-http-event-bounce-permanent-gmail.spatie.json"


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


def tagged(w: World, invoice: Invoice, name: str, address: str, at: datetime | None = None) -> Any:
    # Reported now unless told: an event dated before its invoice was sent (the
    # fixtures are from 2016 to 2022) is outside its window and kept, not applied.
    moment = iso(at if at is not None else w.clock())
    return ses_message(
        name, message_id_for(w, address), address, tags_for(invoice, address), moment
    )


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


def process(w: World, *messages: dict[str, Any] | str) -> dict[str, int]:
    return ses_service.process_sns_event(w.ctx, sns_event(*messages))


# -- send_invoice -------------------------------------------------------------------------


def test_send_invoice_stores_before_sending(world: World) -> None:
    seen: list[str] = []

    def check_stored(outgoing: OutgoingEmail) -> None:
        invoice = world.invoices.get_summary(outgoing.tags[TAG_INVOICE])
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
        assert (recipient.message_id, recipient.status) == (message_id, "sent")
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
        target = world.ctx.signer.verify(token, "pixel")
        assert target is not None
        assert (target.invoice_id, target.recipient_id) == (invoice.id, recipient.id)
        assert "INV-2026-0042" not in url["url"]  # the pixel URL says nothing of the invoice
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


def test_the_stored_invoice_is_the_returned_one_and_its_facts_are_items(world: World) -> None:
    invoice = send(world)
    kept = stored(world, invoice.id)
    assert kept == invoice
    assert kept.version == 2  # created, then one save of the three queued sends' outcomes
    assert (kept.account_id, kept.created_at) == ("acme", iso(world.clock()))
    facts = facts_of(world, invoice.id)
    # Its creation is no fact: the summary's created_at is it (core/history.py).
    assert sorted(e.type for e in facts) == ["sent", "sent", "sent"]
    sent = {e.recipient_id: e.details["message_id"] for e in facts if e.type == "sent"}
    assert sent == {r.id: r.message_id for r in invoice.recipients}
    assert world.invoices.saves == 1


def test_a_refused_recipient_fails_and_the_others_are_sent(world: World) -> None:
    world.mailer.refuse("ben@example.net", "MessageRejected: Address blacklisted.")
    invoice = send(world)
    by_email = {r.email: r for r in invoice.recipients}
    ben = by_email["ben@example.net"]
    assert (ben.status, ben.message_id, ben.send_attempts) == ("failed", None, 1)
    assert ben.failure_reason == "MessageRejected: Address blacklisted."
    assert by_email["ana@example.com"].status == by_email["cleo@example.org"].status == "sent"
    assert invoice.status == "sent"
    assert len(world.mailer.sent) == 2
    assert stored(world, invoice.id).recipient_by_email("ben@example.net") == ben
    [failed] = facts_of(world, invoice.id, "send_failed")
    assert (failed.recipient_id, failed.details["attempt"]) == (ben.id, 1)


def test_every_recipient_refused_makes_a_failed_invoice(world: World) -> None:
    for address in EMAILS:
        world.mailer.refuse(address)
    invoice = send(world)
    assert [r.status for r in invoice.recipients] == ["failed"] * 3
    assert invoice.status == "failed"
    assert world.invoices.refs == {}


def test_the_first_sends_keep_the_creation_time_in_the_list(world: World) -> None:
    """The sends of the creating request are part of the creation: ``updated_at`` (the
    index's sort key) stays ``created_at`` however long SES takes, so the POST updates
    its index entry in place instead of moving it."""

    def slow_ses(_email: OutgoingEmail) -> None:
        world.clock.advance(seconds=2)

    world.mailer.before_send = slow_ses
    invoice = send(world)
    kept = stored(world, invoice.id)
    assert kept.status == "sent"
    assert all(r.sent_at and r.sent_at > kept.created_at for r in kept.recipients)
    assert kept.updated_at == kept.created_at == invoice.updated_at


def test_retry_failed_sends_only_to_the_failed_recipient(world: World) -> None:
    world.mailer.refuse("ben@example.net")
    invoice = send(world)
    world.mailer.accept("ben@example.net")
    world.clock.advance(minutes=5)
    answer = sending_service.retry_failed(world.ctx, acme(), invoice.id).invoice
    assert answer.recipient_by_email("ben@example.net").status == "queued"  # type: ignore[union-attr]
    retried = stored(world, invoice.id)
    assert [e.to_address for _, e in world.mailer.sent] == [*EMAILS[::2], "ben@example.net"]
    ben = retried.recipient_by_email("ben@example.net")
    assert ben is not None
    assert (ben.status, ben.send_attempts) == ("sent", 2)
    assert ben.sent_at == iso(world.clock())
    assert ben.message_id == world.mailer.sent[-1][0]
    assert [r.send_attempts for r in retried.recipients] == [1, 2, 1]
    kept = stored(world, invoice.id)
    assert (kept.recipients, kept.updated_at) == (retried.recipients, iso(world.clock()))
    assert world.invoices.get_message_ref(ben.message_id) is not None


def test_retry_failed_still_refused_records_a_second_attempt(world: World) -> None:
    world.mailer.refuse("ben@example.net", "first")
    invoice = send(world)
    world.mailer.refuse("ben@example.net", "second")
    world.clock.advance(seconds=30)
    sending_service.retry_failed(world.ctx, acme(), invoice.id)
    retried = stored(world, invoice.id)
    ben = retried.recipient_by_email("ben@example.net")
    assert ben is not None
    assert (ben.status, ben.send_attempts, ben.failure_reason) == ("failed", 2, "second")
    assert ben.failed_at == iso(world.clock())
    attempts = [e.details["attempt"] for e in facts_of(world, invoice.id, "send_failed")]
    assert attempts == [1, 2]


def test_retry_failed_sends_to_a_recipient_never_attempted(world: World) -> None:
    invoice = send(world)
    summary = world.invoices.get_summary(invoice.id)
    assert summary is not None
    cleo = summary.recipients[2]
    cleo.sent_at = cleo.message_id = None  # as if the sender crashed before reaching her
    cleo.send_attempts = 0
    world.invoices.save_summary(summary)
    del world.invoices.claims[(invoice.id, cleo.id, 1)]  # never reached: never claimed
    sending_service.retry_failed(world.ctx, acme(), invoice.id)
    assert [e.to_address for _, e in world.mailer.sent] == [*EMAILS, "cleo@example.org"]
    assert stored(world, invoice.id).recipients[2].send_attempts == 1


def test_retry_failed_with_nothing_to_send_sends_nothing(world: World) -> None:
    invoice = send(world)
    saves, puts = world.invoices.saves, world.invoices.fact_puts
    again = sending_service.retry_failed(world.ctx, acme(), invoice.id).invoice
    assert len(world.mailer.sent) == 3
    assert (world.invoices.saves, world.invoices.fact_puts) == (saves, puts)
    assert again == stored(world, invoice.id)


def test_the_pdf_is_kept_under_its_key_and_attached_again_on_retry(world: World) -> None:
    world.mailer.refuse("ben@example.net")
    invoice = send(world, pdf_base64=base64.b64encode(PDF).decode())
    assert invoice.has_pdf
    assert world.pdfs.get(pdf_key(invoice)) == PDF
    assert list(world.pdfs.objects) == [pdf_key(invoice)]
    world.mailer.accept("ben@example.net")
    sending_service.retry_failed(world.ctx, acme(), invoice.id)
    for _, outgoing in (world.mailer.sent[0], world.mailer.sent[-1]):
        attachments = list(mime(outgoing).iter_attachments())
        assert [a.get_content_type() for a in attachments] == ["application/pdf"]
        assert attachments[0].get_content() == PDF


def test_an_invoice_without_a_pdf_keeps_none(world: World) -> None:
    invoice = send(world)
    assert not invoice.has_pdf
    assert world.pdfs.objects == {}
    assert list(mime(world.mailer.sent[0][1]).iter_attachments()) == []
    token = link_token(world, invoice, "ana@example.com")
    assert tracking_service.hosted_pdf_url(world.ctx, token) is None


def test_retry_failed_of_another_accounts_invoice_is_not_found(world: World) -> None:
    world.mailer.refuse("ben@example.net")
    invoice = send(world)
    with pytest.raises(NotFound):
        sending_service.retry_failed(world.ctx, globex(), invoice.id)
    assert len(world.mailer.sent) == 2


def test_idempotency_key_with_the_same_body_replays(world: World) -> None:
    first = sending_service.send_invoice(world.ctx, acme(), invoice_body(), "order-42")
    assert first.replayed is False
    saves, sent, puts = world.invoices.saves, len(world.mailer.sent), world.invoices.fact_puts
    world.clock.advance(minutes=1)
    body = dict(reversed(list(invoice_body().items())))  # the same request, keys reordered
    second = sending_service.send_invoice(world.ctx, acme(), body, "order-42")
    assert second.replayed is True
    assert second.invoice.id == first.invoice.id
    assert second.invoice == stored(world, first.invoice.id)
    assert len(world.mailer.sent) == sent == 3
    assert (world.invoices.saves, world.invoices.fact_puts) == (saves, puts)
    assert len(world.invoices.invoices) == 1
    assert world.metrics.counts["InvoicesCreated"] == 1


def test_idempotency_key_with_another_body_conflicts_and_keeps_the_first_pdf(
    world: World,
) -> None:
    first = send(world, key="order-42", pdf_base64=base64.b64encode(PDF).decode())
    before = stored(world, first.id)
    other = invoice_body(total="1.00", pdf_base64=base64.b64encode(PDF + b"x").decode())
    with pytest.raises(Conflict) as caught:
        sending_service.send_invoice(world.ctx, acme(), other, "order-42")
    assert caught.value.details == {"idempotency_key": "order-42", "invoice_id": first.id}
    assert len(world.mailer.sent) == 3
    assert stored(world, first.id) == before
    assert world.pdfs.get(pdf_key(before)) == PDF


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
    assert (world.invoices.invoices, world.mailer.sent) == ({}, [])


def test_invalid_body_stores_and_sends_nothing(world: World) -> None:
    with pytest.raises(ValidationFailed):
        sending_service.send_invoice(world.ctx, acme(), invoice_body(currency="eur"), None)
    assert (world.invoices.invoices, world.invoices.facts, world.mailer.sent) == ({}, {}, [])


def test_tracking_false_sends_no_pixel(world: World) -> None:
    invoice = send(world, tracking=False)
    assert invoice.tracking is False
    for _, outgoing in world.mailer.sent:
        assert PIXEL.search(html_of(outgoing)) is None
        assert "/t/" not in html_of(outgoing)


def test_account_without_tracking_sends_no_pixel_unless_asked(world: World) -> None:
    quiet = Account(id="quiet", name="Quiet", from_address="q@quiet.example", tracking=False)
    world.accounts.put_account(quiet)
    sending_service.send_invoice(world.ctx, quiet, invoice_body("a@example.com"), None)
    assert PIXEL.search(html_of(world.mailer.sent[-1][1])) is None
    body = invoice_body("b@example.com", tracking=True)
    sending_service.send_invoice(world.ctx, quiet, body, None)
    assert PIXEL.search(html_of(world.mailer.sent[-1][1])) is not None


# -- the pixel ----------------------------------------------------------------------------


def test_pixel_open_counts_for_exactly_that_recipient(world: World) -> None:
    invoice = send(world)
    world.clock.advance(hours=2)
    assert open_pixel(world, "ben@example.net", request="req-1") is True
    after = stored(world, invoice.id)
    assert [r.open_count for r in after.recipients] == [0, 1, 0]
    assert [r.machine_open_count for r in after.recipients] == [0, 0, 0]
    ben = after.recipients[1]
    assert (ben.status, after.status) == ("opened", "opened")
    assert ben.first_opened_at == ben.last_opened_at == iso(world.clock())
    [opened] = facts_of(world, invoice.id, "open")
    assert (opened.key, opened.recipient_id, opened.source) == ("px-req-1", ben.id, "pixel")
    assert opened.details == {
        "user_agent": UA_IOS_MAIL,
        "ip": "203.0.113.0/24",
        "method": "GET",
        "verdict": "human",
        "confidence": 0.85,
        "reasons": ["ua:client:apple-mail", "first-fetch", "after-send:7200s"],
    }
    assert world.metrics.counts["OpensRecorded"] == 1


def test_a_machines_pixel_fetch_is_recorded_but_not_opened(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(seconds=13)
    assert open_pixel(world, "ana@example.com", ua=UA_MPP)
    after = stored(world, invoice.id)
    [ana] = after.recipients
    assert (ana.open_count, ana.machine_open_count) == (0, 1)
    assert ana.first_machine_open_at == iso(world.clock())
    assert (ana.first_opened_at, ana.status, after.status) == (None, "sent", "sent")
    [opened] = facts_of(world, invoice.id, "open")
    assert opened.details["verdict"] == "privacy_prefetch"


@pytest.mark.parametrize(
    ("user_agent", "person", "machine"),
    [(UA_OUTLOOK, 3, 0), ("UA", 0, 3)],  # an unrecognised agent is not counted as a person
)
def test_every_pixel_fetch_is_an_open(
    world: World, user_agent: str, person: int, machine: int
) -> None:
    invoice = send(world, "ana@example.com")
    for number in range(3):
        world.clock.advance(minutes=10)
        assert open_pixel(world, "ana@example.com", ua=user_agent, request=f"req-{number}")
    recipient = stored(world, invoice.id).recipients[0]
    assert (recipient.open_count, recipient.machine_open_count) == (person, machine)
    assert len(facts_of(world, invoice.id, "open")) == 3


def test_the_same_pixel_request_twice_counts_once(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=10)
    assert open_pixel(world, "ana@example.com", request="req-1") is True
    assert open_pixel(world, "ana@example.com", request="req-1") is False  # a replay
    assert stored(world, invoice.id).recipients[0].open_count == 1
    assert len(facts_of(world, invoice.id, "open")) == 1


def test_tampered_token_is_refused_without_touching_the_store(world: World) -> None:
    invoice = send(world)
    token = token_to(world, "ana@example.com").removesuffix(".gif")
    before, puts = summary_item(world, invoice.id), world.invoices.fact_puts
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]
    for forged in (tampered + ".gif", "", "x.gif", token[:-2]):
        assert (
            tracking_service.record_pixel_open(world.ctx, forged, "UA", None, "GET", "r") is False
        )
    assert summary_item(world, invoice.id) == before
    assert (world.invoices.fact_puts, world.invoices.counters) == (puts, {})
    assert world.metrics.counts["PixelTokenRejected"] == 4
    assert world.metrics.counts["OpensRecorded"] == 0


def test_genuine_token_of_an_unknown_invoice_is_refused(world: World) -> None:
    token = world.ctx.signer.token_for("inv_" + "a" * 26, "rcp_" + "b" * 16, "pixel")
    assert tracking_service.record_pixel_open(world.ctx, token, "UA", None, "GET", "r") is False
    assert (world.invoices.invoices, world.invoices.facts) == ({}, {})


def test_pixel_open_of_an_invoice_without_tracking_records_nothing(world: World) -> None:
    invoice = send(world, tracking=False)
    before, puts = summary_item(world, invoice.id), world.invoices.fact_puts
    token = link_token(world, invoice, "ana@example.com", "pixel")
    world.clock.advance(minutes=5)
    assert (
        tracking_service.record_pixel_open(world.ctx, token, UA_IOS_MAIL, IP, "GET", "r") is False
    )
    assert summary_item(world, invoice.id) == before
    assert (world.invoices.fact_puts, world.invoices.counters) == (puts, {})
    assert stored(world, invoice.id).open_count == 0


# -- queries ------------------------------------------------------------------------------


def test_get_invoice_of_another_account_or_unknown_is_not_found(world: World) -> None:
    invoice = send(world)
    assert invoice_queries.get_invoice(world.ctx, acme(), invoice.id) == stored(world, invoice.id)
    for account, invoice_id in [
        (globex(), invoice.id),
        (acme(), ""),
        (acme(), "inv_" + "z" * 26),
        (acme(), "rcp_abc"),
    ]:
        with pytest.raises(NotFound):
            invoice_queries.get_invoice(world.ctx, account, invoice_id)
        with pytest.raises(NotFound):
            invoice_queries.get_events(world.ctx, account, invoice_id, None, None)


def test_invoice_detail_reads_the_counters_and_no_history(world: World) -> None:
    invoice = send(world)
    world.clock.advance(hours=1)
    assert open_pixel(world, "ben@example.net", request="r1")
    world.clock.advance(minutes=5)
    assert open_pixel(world, "ben@example.net", request="r2")
    body = views.invoice_detail(invoice_queries.get_invoice(world.ctx, acme(), invoice.id))
    assert "events" not in body
    ben = body["recipients"][1]
    assert (ben["open_count"], ben["status"], body["open_count"]) == (2, "opened", 2)
    assert ben["last_opened_at"] == body["last_opened_at"] == iso(world.clock())
    assert ben["first_opened_at"] == iso(world.clock() - timedelta(minutes=5))
    assert body["first_opened_by"] == {
        "recipient_id": invoice.recipients[1].id,
        "email": "ben@example.net",
        "at": ben["first_opened_at"],
    }


@pytest.mark.parametrize(("limit", "pages_expected"), [(3, 3), (4, 2), (6, 2), (7, 1)])
def test_get_events_pages_newest_first_with_a_cursor(
    world: World, limit: int, pages_expected: int
) -> None:
    """The facts newest first, then the creation (no fact of its own): on the last
    page if it has room, else on a page of its own (limit 6: six facts fill one)."""
    invoice = send(world, "ana@example.com")
    for number in range(5):
        world.clock.advance(minutes=1)
        assert open_pixel(world, "ana@example.com", request=f"r{number}")
    everything = [history.creation(invoice), *facts_of(world, invoice.id)]
    assert len(everything) == 7  # created, sent, five opens
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        summary, page = invoice_queries.get_events(
            world.ctx, acme(), invoice.id, str(limit), cursor
        )
        assert summary.id == invoice.id
        assert 1 <= len(page.events) <= limit
        seen.extend(e.key for e in page.events)
        pages += 1
        if page.cursor is None:
            break
        cursor = page.cursor
    assert pages == pages_expected
    assert seen == [e.key for e in reversed(everything)]
    assert page.events[-1].type == "created"
    first = views.timeline(facts_of(world, invoice.id, "open")[:1])[0]
    assert first["details"]["counted"] is True
    assert first["details"]["user_agent_family"]


@pytest.mark.parametrize(
    ("limit", "cursor", "field"),
    [("0", None, "limit"), ("501", None, "limit"), ("ten", None, "limit"), (None, "x", "cursor")],
)
def test_get_events_refuses_a_bad_limit_or_cursor(
    world: World, limit: str | None, cursor: str | None, field: str
) -> None:
    invoice = send(world)
    with pytest.raises(ValidationFailed) as caught:
        invoice_queries.get_events(world.ctx, acme(), invoice.id, limit, cursor)
    assert [d["field"] for d in caught.value.details] == [field]


def _send_many(w: World, count: int) -> list[Invoice]:
    sent = []
    for number in range(count):
        w.clock.advance(minutes=1)
        body = invoice_body(f"r{number}@example.com", number=f"INV-{number:03d}")
        sent.append(sending_service.send_invoice(w.ctx, acme(), body, None).invoice)
    return sent


def test_list_invoices_newest_first_across_pages(world: World) -> None:
    sent = _send_many(world, 7)
    sending_service.send_invoice(world.ctx, globex(), invoice_body(), None)  # not acme's
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


def test_list_invoices_by_status_and_their_list_items(world: World) -> None:
    world.mailer.refuse("r1@example.com")
    sent = _send_many(world, 3)
    failed, _ = invoice_queries.list_invoices(world.ctx, acme(), "failed", None, None)
    assert [i.id for i in failed] == [sent[1].id]
    assert views.list_item(failed[0])["problem_count"] == 1
    now_sent, _ = invoice_queries.list_invoices(world.ctx, acme(), "sent", None, None)
    assert [i.id for i in now_sent] == [sent[2].id, sent[0].id]
    assert invoice_queries.list_invoices(world.ctx, acme(), "opened", None, None) == ([], None)
    world.clock.advance(hours=1)
    assert open_pixel(world, "r0@example.com")
    [opened], _ = invoice_queries.list_invoices(world.ctx, acme(), "opened", None, None)
    item = views.list_item(opened)
    assert (item["id"], item["status"], item["recipient_count"]) == (sent[0].id, "opened", 1)
    assert item["first_opened_at"] == item["updated_at"] == iso(world.clock())
    assert "recipients" not in item
    everything, _ = invoice_queries.list_invoices(world.ctx, acme(), None, None, None)
    assert [i.id for i in everything] == [sent[0].id, sent[2].id, sent[1].id]


def test_cursor_of_another_account_or_a_wider_query_is_refused(world: World) -> None:
    _send_many(world, 3)
    _, mine = invoice_queries.list_invoices(world.ctx, acme(), "sent", "1", None)
    _, wide = invoice_queries.list_invoices(world.ctx, acme(), None, "1", None)
    assert mine is not None
    assert wide is not None
    for account, status, cursor in [(globex(), "sent", mine), (acme(), "failed", wide)]:
        with pytest.raises(ValidationFailed) as caught:
            invoice_queries.list_invoices(world.ctx, account, status, "1", cursor)
        assert caught.value.details == [{"field": "cursor", "message": "belongs to another query"}]
    items, _ = invoice_queries.list_invoices(world.ctx, acme(), "sent", "1", mine)
    assert len(items) == 1


def test_cursor_of_a_status_query_is_refused_by_the_all_status_query(world: World) -> None:
    _send_many(world, 3)
    _, cursor = invoice_queries.list_invoices(world.ctx, acme(), "sent", "1", None)
    with pytest.raises(ValidationFailed):
        invoice_queries.list_invoices(world.ctx, acme(), None, "1", cursor)


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
