"""Sending once (issue 15, finding 1): each recipient's attempt is claimed before
SendEmail, its outcome kept as soon as SES answers, and a retry (``POST /send``, a
replay, a concurrent request, SQS delivering a queued send twice) never mails anyone
twice. A message that cannot be composed is that recipient's failure, never a 500 that
leaves nothing recorded. The world's send queue runs each message as it is queued, and
again while the sender asks for it back (as SQS redelivers)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import ids
from chalicelib.core.model import Account, Invoice, MessageRef, OutgoingEmail, Recipient
from chalicelib.sending import service
from tests.fakes import FakeInvoiceStore, World, make_world

pytestmark = pytest.mark.disable_socket

EMAILS = ("ana@example.com", "ben@example.net", "cleo@example.org")


def acme() -> Account:
    return Account(id="acme", name="Acme Ltd", from_address="billing@acme.example")


def body(*emails: str) -> dict[str, Any]:
    return {
        "number": "INV-2026-0042",
        "customer": {"name": "Globex"},
        "recipients": [{"email": e} for e in emails or EMAILS],
        "currency": "EUR",
        "total": "10.00",
        "due_date": "2026-02-28",
    }


class CrashingRefs(FakeInvoiceStore):
    """A store whose message-ref write fails once: a crash after every SendEmail and
    its settled claim, before any fact or the summary was written."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None:
        if self.crash:
            self.crash = False
            raise RuntimeError("the function was killed here")
        super().put_message_refs(refs, expires_at)


def world_with(store: FakeInvoiceStore | None = None) -> World:
    w = make_world()
    if store is not None:
        w.invoices = store
        w.ctx = w.ctx.__class__(**{**w.ctx.__dict__, "invoices": store})
        w.sends.ctx = w.ctx
    w.accounts.put_account(acme())
    return w


def times_mailed(w: World) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, outgoing in w.mailer.sent:
        counts[outgoing.to_address] = counts.get(outgoing.to_address, 0) + 1
    return counts


def stored(w: World, invoice_id: str) -> Invoice:
    invoice = w.invoices.get(invoice_id)
    assert invoice is not None
    return invoice


def test_each_attempt_is_claimed_and_settled_before_the_summary() -> None:
    w = world_with()
    invoice = stored(w, service.send_invoice(w.ctx, acme(), body(), None).invoice.id)
    claims = {rid: kept for (iid, rid, _), kept in w.invoices.claims.items() if iid == invoice.id}
    assert set(claims) == {r.id for r in invoice.recipients}
    for recipient in invoice.recipients:
        _, outcome = claims[recipient.id]
        assert outcome is not None
        assert outcome.message_id == recipient.message_id


def test_a_crash_after_sending_is_completed_by_the_redelivery_without_mailing_again() -> None:
    store = CrashingRefs()
    w = world_with(store)
    answer = service.send_invoice(w.ctx, acme(), body(), None)
    assert [r.status for r in answer.invoice.recipients] == ["queued"] * 3
    # The first message's run crashed after SendEmail; SQS delivered it again, and the
    # settled claim completed it without mailing again.
    assert times_mailed(w) == dict.fromkeys(EMAILS, 1)
    kept = stored(w, answer.invoice.id)
    assert [r.status for r in kept.recipients] == ["sent"] * 3
    sent_ids = {message_id for message_id, _ in w.mailer.sent}
    assert {r.message_id for r in kept.recipients} == sent_ids
    assert all(store.get_message_ref(m) is not None for m in sent_ids)


def test_an_outcome_never_known_is_never_mailed_again() -> None:
    w = world_with()

    def timeout_for_ben(outgoing: OutgoingEmail) -> None:
        if outgoing.to_address == "ben@example.net":
            raise TimeoutError("read timeout: SES may or may not have taken it")

    w.mailer.before_send = timeout_for_ben
    invoice_id = service.send_invoice(w.ctx, acme(), body(), None).invoice.id
    # Each recipient is its own message: the outage stops only ben's, whose claim stays
    # unsettled (its message is done: nothing may mail that attempt again).
    assert [r.status for r in stored(w, invoice_id).recipients] == ["sent", "queued", "sent"]
    assert w.sends.messages == []
    w.mailer.before_send = None
    for _ in range(3):
        service.retry_failed(w.ctx, acme(), invoice_id)
    assert times_mailed(w) == {"ana@example.com": 1, "cleo@example.org": 1}
    assert stored(w, invoice_id).recipients[1].status == "queued"
    assert w.metrics.counts["SendsUnsettled"] == 3


def test_a_refused_attempt_is_retried_under_a_new_claim() -> None:
    w = world_with()
    w.mailer.refuse("ben@example.net")
    invoice = service.send_invoice(w.ctx, acme(), body(), None).invoice
    w.mailer.accept("ben@example.net")
    service.retry_failed(w.ctx, acme(), invoice.id)
    retried = stored(w, invoice.id)
    assert retried.recipients[1].status == "sent"
    assert sorted(a for (_, rid, a) in w.invoices.claims if rid == retried.recipients[1].id) == [
        1,
        2,
    ]
    assert times_mailed(w)["ben@example.net"] == 1


def test_a_message_that_cannot_be_composed_is_that_recipients_failure() -> None:
    # A name stored before names were checked: composing its To header raises.
    w = world_with()
    invoice = Invoice(
        id=ids.new_invoice_id(),
        account_id="acme",
        number="INV-1",
        customer_name="Globex",
        currency="EUR",
        total="10.00",
        due_date="2026-02-28",
        created_at="2026-01-05T09:30:00.000Z",
        recipients=[
            Recipient(id=ids.new_recipient_id(), email="ana@example.com"),
            Recipient(
                id=ids.new_recipient_id(),
                email="ben@example.net",
                name="Ben\r\nBcc: x@evil.example",
            ),
            Recipient(id=ids.new_recipient_id(), email="cleo@example.org"),
        ],
    )
    assert w.invoices.create(invoice)
    for _ in range(2):
        service.retry_failed(w.ctx, acme(), invoice.id)
    assert times_mailed(w) == {"ana@example.com": 1, "cleo@example.org": 1}
    ben = stored(w, invoice.id).recipients[1]
    assert ben.status == "failed"
    assert ben.failure_reason is not None
    assert "could not be composed" in ben.failure_reason
    assert ben.send_attempts == 2


def test_a_replayed_request_mails_nobody() -> None:
    w = world_with()
    first = service.send_invoice(w.ctx, acme(), body(), "order-1")
    again = service.send_invoice(w.ctx, acme(), body(), "order-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert times_mailed(w) == dict.fromkeys(EMAILS, 1)


def test_a_claim_is_won_once() -> None:
    store = FakeInvoiceStore()
    first = store.claim_send("inv", "r", 1, "2026-01-05T09:30:00.000Z", 0)
    second = store.claim_send("inv", "r", 1, "2026-01-05T09:31:00.000Z", 0)
    assert (first.won, second.won) == (True, False)
    assert (second.claimed_at, second.outcome) == ("2026-01-05T09:30:00.000Z", None)
