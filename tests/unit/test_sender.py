"""The send queue and its consumer (issue 17): POST /invoices queues one message per
recipient, the sender runs the claimed send of each; SES throttling is back-pressure
(the message comes back, the recipient stays queued) until the last receive, when the
recipient is failed and the message goes to the dead-letter queue. SQS delivering a
message twice mails nobody twice."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.model import Account
from chalicelib.core.sends import QueuedSend
from chalicelib.errors import Unavailable
from chalicelib.sending import sender, service
from tests.fakes import World, make_world

pytestmark = pytest.mark.disable_socket

EMAILS = ("ana@example.com", "ben@example.net")


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


@pytest.fixture
def world() -> World:
    w = make_world(auto_send=False)
    w.accounts.put_account(acme())
    return w


def statuses(w: World, invoice_id: str) -> list[str]:
    invoice = w.invoices.get(invoice_id)
    assert invoice is not None
    return [r.status for r in invoice.recipients]


def test_post_queues_one_message_per_recipient_and_mails_nobody(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body(), None)
    assert answer.invoice.status == "queued"
    assert statuses(world, answer.invoice.id) == ["queued", "queued"]
    assert world.mailer.sent == []
    assert [(s.recipient_id, s.attempt) for s in world.sends.queued] == [
        (r.id, 1) for r in answer.invoice.recipients
    ]
    world.sends.drain()
    assert statuses(world, answer.invoice.id) == ["sent", "sent"]
    assert len(world.mailer.sent) == 2


def test_a_message_delivered_twice_mails_once(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body(), None)
    world.sends.messages.extend(list(world.sends.messages))  # SQS: at least once
    world.sends.enqueue(world.sends.queued[:1])  # and a replayed copy
    world.sends.drain()
    assert sorted(e.to_address for _, e in world.mailer.sent) == sorted(EMAILS)
    assert statuses(world, answer.invoice.id) == ["sent", "sent"]


def test_throttling_puts_the_message_back_and_the_recipient_stays_queued(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body("ana@example.com"), None)
    world.mailer.throttle_next = 2
    [message] = world.sends.messages
    world.sends._run([message])
    assert statuses(world, answer.invoice.id) == ["queued"]
    assert message.hidden >= sender.THROTTLE_DELAY_SECONDS  # back later, with a delay
    assert list(world.invoices.unsettled_sends()) == []  # the claim was given back
    world.sends.drain()
    assert statuses(world, answer.invoice.id) == ["sent"]
    assert message.receives == 3
    assert len(world.mailer.sent) == 1
    assert world.metrics.counts["SendsThrottled"] == 2
    assert world.sends.dead == []


def test_throttled_on_every_receive_fails_the_recipient_and_dead_letters(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body("ana@example.com"), None)
    world.mailer.throttle_next = 100
    world.sends.drain()
    invoice = world.invoices.get(answer.invoice.id)
    assert invoice is not None
    [ana] = invoice.recipients
    assert ana.status == "failed"
    assert (ana.failure_reason or "").startswith("SES kept throttling")
    assert world.mailer.throttled == world.ctx.settings.send_receives
    assert len(world.sends.dead) == 1
    assert world.sends.messages == []
    # POST /send queues them again, as attempt 2.
    world.mailer.throttle_next = 0
    world.clock.advance(minutes=1)
    service.retry_failed(world.ctx, acme(), answer.invoice.id)
    assert statuses(world, answer.invoice.id) == ["queued"]
    world.sends.drain()
    assert statuses(world, answer.invoice.id) == ["sent"]
    assert world.sends.queued[-1].attempt == 2


def test_a_queue_that_refuses_answers_503_and_the_replay_queues_again(world: World) -> None:
    world.sends.refuse = True
    with pytest.raises(Unavailable):
        service.send_invoice(world.ctx, acme(), body(), "order-1")
    world.sends.refuse = False
    again = service.send_invoice(world.ctx, acme(), body(), "order-1")
    assert again.replayed
    world.sends.drain()
    assert statuses(world, again.invoice.id) == ["sent", "sent"]


def test_a_body_the_sender_did_not_write_is_kept_for_an_operator(world: World) -> None:
    received = sender.Received("m1", "{not json", "h", 1)
    assert sender.run_batch(world.ctx, [received]) == []
    assert len(world.unprocessed.items) == 1


def test_queued_sends_round_trip_and_refuse_foreign_bodies() -> None:
    send = QueuedSend("inv_1", "rcp_1", 2)
    assert QueuedSend.from_json(send.to_json()) == send
    reminder = QueuedSend("inv_1", "rcp_1", 3, "manual")
    assert QueuedSend.from_json(reminder.to_json()) == reminder
    assert '"reminder"' not in send.to_json()  # a send's body is as before reminders
    empty_trigger = '{"v": 1, "i": "x", "r": "r", "n": 1, "reminder": ""}'
    for bad in (
        "[]",
        '{"v": 2}',
        '{"v": 1, "i": "x"}',
        '{"v": 1, "i": "", "r": "r", "n": 1}',
        empty_trigger,
    ):
        with pytest.raises(ValueError, match=r"queued send|version"):
            QueuedSend.from_json(bad)


def test_the_pacer_spaces_sends_to_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = sender.Pacer(10, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        pacer.wait()
    assert now[0] == pytest.approx(0.4)
    sender.Pacer(0, clock=lambda: 0.0, sleep=sleep).wait()  # unpaced: no sleep
    assert len(slept) == 4


def test_a_batch_says_per_item_whose_sends_the_queue_did_not_take(world: World) -> None:
    from chalicelib.sending import batch

    items = [
        {**body(f"a{n}@example.com", f"b{n}@example.com"), "idempotency_key": f"k{n}"}
        for n in range(3)
    ]
    world.sends.take = 3  # the queue takes the first invoice's 2 sends and one more
    first = batch.send_batch(world.ctx, acme(), {"invoices": items})
    assert [o.result is not None for o in first] == [True, False, False]
    for outcome in first[1:]:
        assert isinstance(outcome.error, Unavailable)
        assert outcome.error.details["invoice_id"]
    # The same batch again: every invoice replayed, the still-queued sends queued.
    world.sends.take = None
    again = batch.send_batch(world.ctx, acme(), {"invoices": items})
    assert all(o.result is not None and o.result.replayed for o in again)
    world.sends.drain()
    mailed = sorted(e.to_address for _, e in world.mailer.sent)
    assert mailed == sorted(f"{p}{n}@example.com" for n in range(3) for p in "ab")


def test_one_invoices_messages_in_a_batch_are_one_read_and_one_summary_write(
    world: World,
) -> None:
    emails = [f"r{n}@example.com" for n in range(10)]
    answer = service.send_invoice(world.ctx, acme(), body(*emails), None)
    saves = world.invoices.saves
    world.sends.drain()
    assert statuses(world, answer.invoice.id) == ["sent"] * 10
    assert sorted(e.to_address for _, e in world.mailer.sent) == sorted(emails)
    assert world.invoices.saves - saves == 1  # ten sends, one summary write


def test_a_throttle_mid_invoice_sends_back_only_the_untried(world: World) -> None:
    emails = ("a@example.com", "b@example.com", "c@example.com")
    answer = service.send_invoice(world.ctx, acme(), body(*emails), None)
    tried: list[str] = []

    def second_throttled(email: Any) -> None:
        tried.append(email.to_address)
        if len(tried) == 2:
            world.mailer.throttle_next = 1

    world.mailer.before_send = second_throttled
    world.sends._run(list(world.sends.messages))
    assert statuses(world, answer.invoice.id) == ["sent", "queued", "queued"]
    assert tried == ["a@example.com", "b@example.com"]  # c was not tried after the throttle
    assert len(world.sends.messages) == 2  # the throttled and the untried come back
    assert all(m.hidden >= sender.THROTTLE_DELAY_SECONDS for m in world.sends.messages)
    world.mailer.before_send = None
    world.sends.drain()
    assert statuses(world, answer.invoice.id) == ["sent"] * 3
    assert sorted(e.to_address for _, e in world.mailer.sent) == sorted(emails)


def test_a_later_attempt_in_the_same_batch_waits_for_the_earlier(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body("ana@example.com"), None)
    [recipient] = answer.invoice.recipients
    world.sends.enqueue([QueuedSend(answer.invoice.id, recipient.id, 2)])
    world.sends._run(list(world.sends.messages))
    assert statuses(world, answer.invoice.id) == ["sent"]
    assert len(world.sends.messages) == 1  # attempt 2 came back, then finds her sent
    world.sends.drain()
    assert len(world.mailer.sent) == 1


def test_a_queued_reminder_throttled_comes_back_and_is_mailed_once(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body("ana@example.com"), None)
    world.sends.drain()
    [ana] = answer.invoice.recipients
    world.sends.enqueue([QueuedSend(answer.invoice.id, ana.id, 1, "scheduled")] * 2)
    world.mailer.throttle_next = 1
    world.sends.drain()
    reminders = [e for _, e in world.mailer.sent if e.to_address == "ana@example.com"][1:]
    assert len(reminders) == 1  # throttled once, delivered twice by SQS: mailed once
    invoice = world.invoices.get(answer.invoice.id)
    assert invoice is not None
    assert invoice.reminders_sent == 1
    [fact] = [e for e in world.invoices.history(invoice.id) if e.type == "reminder"]
    assert (fact.details["n"], fact.details["trigger"]) == (1, "scheduled")
    assert list(world.invoices.unsettled_sends()) == []


def test_a_reminder_of_an_invoice_paid_meanwhile_is_not_mailed(world: World) -> None:
    answer = service.send_invoice(world.ctx, acme(), body("ana@example.com"), None)
    world.sends.drain()
    [ana] = answer.invoice.recipients
    world.invoices.invoices[answer.invoice.id].payment_status = "paid"
    world.sends.enqueue([QueuedSend(answer.invoice.id, ana.id, 1, "scheduled")])
    world.sends.drain()
    assert len(world.mailer.sent) == 1  # the invoice only: paid before the reminder ran


def test_after_a_throttle_the_batchs_reminders_wait_too(world: World) -> None:
    answer = service.send_invoice(
        world.ctx, acme(), body("ana@example.com", "ben@example.net"), None
    )
    ana_message = world.sends.messages[0]
    world.sends._run([ana_message])  # ana is sent; ben's first send still queued
    ana = answer.invoice.recipients[0]
    world.sends.enqueue([QueuedSend(answer.invoice.id, ana.id, 1, "manual")])
    world.mailer.throttle_next = 1  # ben's send is throttled
    world.sends._run(list(world.sends.messages))
    assert len(world.mailer.sent) == 1  # nobody after the throttle: not ana's reminder
    assert len(world.sends.messages) == 2  # both come back
    world.sends.drain()
    assert sorted(e.to_address for _, e in world.mailer.sent) == [
        "ana@example.com",
        "ana@example.com",
        "ben@example.net",
    ]
    assert statuses(world, answer.invoice.id) == ["sent", "sent"]
