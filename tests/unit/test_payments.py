"""Paid and void: the rule (core/payments.py), the use case over the fakes (the index
entry moves, the fact and the alert are kept once), reminders stop, webhooks hear it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.alerts import delivery as alert_delivery
from chalicelib.alerts import service as alert_service
from chalicelib.core.model import Account, Invoice, iso, partitions_of
from chalicelib.core.webhooks import verify_signature
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.reports import service as report_jobs
from chalicelib.sending import payments, queries
from chalicelib.sending import service as sending_service
from chalicelib.sending.views import invoice_detail, list_item
from tests.fakes_reports import ReportWorld, make_report_world
from tests.unit.test_reports import (
    DIGEST_RUN,
    YESTERDAY,
    acme,
    delivered_invoice,
    morning,
    part,
    sent_to,
)

pytestmark = pytest.mark.disable_socket

T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


@pytest.fixture
def rw() -> ReportWorld:
    w = make_report_world()
    w.world.accounts.put_account(acme())
    return w


def account(rw: ReportWorld) -> Account:
    found = rw.world.accounts.get_account("acme")
    assert found is not None
    return found


def send(rw: ReportWorld, number: str = "INV-1", **extra: Any) -> Invoice:
    body = {
        "number": number,
        "customer": {"name": "Globex"},
        "recipients": [{"email": "ana@globex.example"}],
        "currency": "EUR",
        "total": "1210.00",
        "due_date": "2026-02-28",
        **extra,
    }
    return sending_service.send_invoice(rw.world.ctx, account(rw), body, None).invoice


def test_paid_defaults_to_now_and_the_total(rw: ReportWorld) -> None:
    rw.world.clock.set(T0)
    invoice = send(rw)
    rw.world.clock.advance(hours=2)
    paid = payments.pay(rw.world.ctx, account(rw), invoice.id, None)
    assert paid.payment_status == "paid"
    assert invoice_detail(paid)["payment"] == {
        "paid_at": iso(T0 + timedelta(hours=2)),
        "amount": "1210.00",
    }
    assert invoice_detail(paid)["payment_status"] == "paid"
    [fact] = [e for e in rw.world.invoices.history(invoice.id) if e.type == "paid"]
    assert (fact.recipient_id, fact.details["amount"]) == (None, "1210.00")
    assert rw.world.invoices.invoices[invoice.id].updated_at == iso(T0 + timedelta(hours=2))


def test_paid_is_idempotent_and_conflicts_with_other_details_or_a_void(rw: ReportWorld) -> None:
    invoice = send(rw)
    body = {"paid_at": "2026-01-04T10:00:00Z", "amount": "1210", "reference": "TR-77"}
    first = payments.pay(rw.world.ctx, account(rw), invoice.id, body)
    saves = rw.world.invoices.saves
    rw.world.clock.advance(minutes=5)
    again = payments.pay(rw.world.ctx, account(rw), invoice.id, body)
    assert (
        invoice_detail(again)["payment"]
        == invoice_detail(first)["payment"]
        == {
            "paid_at": "2026-01-04T10:00:00.000Z",
            "amount": "1210",
            "reference": "TR-77",
        }
    )
    assert rw.world.invoices.saves == saves  # nothing written again
    assert payments.pay(rw.world.ctx, account(rw), invoice.id, {}).payment == first.payment
    assert len([e for e in rw.world.invoices.history(invoice.id) if e.type == "paid"]) == 1
    assert len(rw.store.recorded_alerts()) == 1
    with pytest.raises(Conflict) as caught:
        payments.pay(rw.world.ctx, account(rw), invoice.id, {"reference": "TR-78"})
    assert caught.value.details["fields"] == ["reference"]
    with pytest.raises(Conflict):
        payments.void(rw.world.ctx, account(rw), invoice.id, {"reason": "mistake"})


def test_void_is_idempotent_and_a_void_invoice_cannot_be_paid(rw: ReportWorld) -> None:
    invoice = send(rw)
    voided = payments.void(rw.world.ctx, account(rw), invoice.id, {"reason": "sent twice"})
    assert (voided.payment_status, invoice_detail(voided)["payment"]["reason"]) == (
        "void",
        "sent twice",
    )
    assert payments.void(rw.world.ctx, account(rw), invoice.id, {}).payment == voided.payment
    assert [e.type for e in rw.world.invoices.history(invoice.id)].count("voided") == 1
    with pytest.raises(Conflict):
        payments.pay(rw.world.ctx, account(rw), invoice.id, None)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"amount": "12,00"}, {"amount"}),
        ({"amount": 12}, {"amount"}),
        ({"paid_at": "yesterday"}, {"paid_at"}),
        ({"paid_at": "2030-01-01T00:00:00Z"}, {"paid_at"}),
        ({"reference": ""}, {"reference"}),
        ({"colour": "red", "amount": "x"}, {"colour", "amount"}),
        ([], {""}),
    ],
)
def test_a_bad_payment_names_every_field(rw: ReportWorld, body: Any, fields: set[str]) -> None:
    invoice = send(rw)
    with pytest.raises(ValidationFailed) as caught:
        payments.pay(rw.world.ctx, account(rw), invoice.id, body)
    assert {d["field"] for d in caught.value.details} == fields
    assert rw.world.invoices.invoices[invoice.id].payment_status == "unpaid"


def test_another_accounts_invoice_is_not_found(rw: ReportWorld) -> None:
    invoice = send(rw)
    other = Account(id="globex", name="Globex", from_address="ar@globex.example")
    with pytest.raises(NotFound):
        payments.pay(rw.world.ctx, other, invoice.id, None)
    with pytest.raises(NotFound):
        payments.void(rw.world.ctx, account(rw), "inv_nothing", None)


def test_paid_and_void_invoices_move_to_the_closed_partitions(rw: ReportWorld) -> None:
    paid, void = send(rw, "A"), send(rw, "B")
    send(rw, "C")
    payments.pay(rw.world.ctx, account(rw), paid.id, None)
    payments.void(rw.world.ctx, account(rw), void.id, None)

    def listed(**query: str | None) -> list[str]:
        params = {k: v for k, v in query.items() if v is not None}
        items, _ = queries.find_invoices(rw.world.ctx, account(rw), params)
        return sorted(i.number for i in items)

    assert listed() == ["A", "B", "C"]
    assert listed(payment_status="unpaid") == ["C"]
    assert listed(payment_status="paid") == ["A"]
    assert listed(payment_status="void") == ["B"]
    assert listed(status="sent") == ["A", "B", "C"]
    assert listed(status="sent", payment_status="unpaid") == ["C"]
    assert listed(status="opened", payment_status="paid") == []
    items, _ = queries.find_invoices(rw.world.ctx, account(rw), {"payment_status": "paid"})
    assert list_item(items[0])["payment_status"] == "paid"
    # The unpaid list never reads a closed partition.
    assert not [p for p in partitions_of("acme", 1, None, "unpaid") if "closed" in p]
    with pytest.raises(ValidationFailed):
        queries.find_invoices(rw.world.ctx, account(rw), {"payment_status": "due"})


def test_a_cursor_belongs_to_its_payment_filter(rw: ReportWorld) -> None:
    for n in range(3):
        send(rw, f"N{n}")
    _, cursor = queries.find_invoices(
        rw.world.ctx, account(rw), {"payment_status": "unpaid", "limit": "1"}
    )
    assert cursor is not None
    with pytest.raises(ValidationFailed):
        queries.find_invoices(rw.world.ctx, account(rw), {"cursor": cursor, "limit": "1"})
    items, _ = queries.find_invoices(
        rw.world.ctx, account(rw), {"payment_status": "unpaid", "cursor": cursor, "limit": "1"}
    )
    assert len(items) == 1


def test_a_paid_invoice_gets_no_scheduled_reminder_and_remind_now_is_409(
    rw: ReportWorld,
) -> None:
    rw.world.accounts.put_account(acme(reminders=True, reminder_after_days=3))
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rw.world.clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
    payments.pay(rw.world.ctx, account(rw), invoice.id, None)
    assert report_jobs.run_hourly(rw.at(morning(9)))["reminders"] == 0
    assert len(sent_to(rw, "ana@globex.example")) == 1
    with pytest.raises(Conflict) as caught:
        report_jobs.remind_now(rw.jobs, account(rw), invoice.id)
    assert caught.value.details["payment_status"] == "paid"


def test_an_unpaid_twin_is_still_reminded(rw: ReportWorld) -> None:
    # The control of the test above: the same invoice, unpaid, is reminded.
    rw.world.accounts.put_account(acme(reminders=True, reminder_after_days=3))
    delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert report_jobs.run_hourly(rw.at(morning(9)))["reminders"] == 1


def test_a_void_invoice_is_never_reminded(rw: ReportWorld) -> None:
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    payments.void(rw.world.ctx, account(rw), invoice.id, None)
    with pytest.raises(Conflict):
        report_jobs.remind_now(rw.jobs, account(rw), invoice.id)


def test_webhooks_hear_invoice_paid_and_voided_signed(rw: ReportWorld) -> None:
    rw.world.clock.set(T0)
    hook = alert_service.create_webhook(
        rw.jobs,
        account(rw),
        {"url": "https://hooks.example.com/sobre", "events": ["invoice.paid", "invoice.voided"]},
    )
    paid, void = send(rw, "P-1"), send(rw, "V-1")
    payments.pay(rw.world.ctx, account(rw), paid.id, {"reference": "TR-1"})
    payments.void(rw.world.ctx, account(rw), void.id, {"reason": "duplicate"})
    payments.pay(rw.world.ctx, account(rw), paid.id, None)  # a repeat: no second event
    outcome = alert_delivery.run_alerts(rw.at(T0 + timedelta(minutes=5)))
    assert outcome.get("delivered") == 2
    bodies = {json.loads(p.body)["type"]: (p, json.loads(p.body)) for p in rw.poster.posted}
    assert set(bodies) == {"invoice.paid", "invoice.voided"}
    posted, payload = bodies["invoice.paid"]
    assert verify_signature(hook.secret, posted.headers["Sobre-Signature"], posted.body)
    assert payload["data"]["invoice"]["id"] == paid.id
    assert payload["data"]["invoice"]["payment_status"] == "paid"
    assert payload["data"]["recipient"] is None
    assert payload["data"]["details"]["reference"] == "TR-1"
    assert bodies["invoice.voided"][1]["data"]["details"] == {
        "voided_at": iso(T0),
        "reason": "duplicate",
    }
    # No alert email for a payment: the account made it.
    assert not [e for _, e in rw.world.mailer.sent if e.to_address == "owner@acme.example"]


def test_the_digest_lists_the_payments_of_the_day(rw: ReportWorld) -> None:
    # Sent and paid on 14 January (Madrid), one paid the day before: only the 14th's.
    rw.world.clock.set(datetime(2026, 1, 13, 10, 0, tzinfo=UTC))
    earlier = send(rw, "INV-EARLY")
    payments.pay(rw.world.ctx, account(rw), earlier.id, {"reference": "TR-0"})
    rw.world.clock.set(YESTERDAY)
    invoice = send(rw, "INV-PAID")
    rw.world.clock.advance(hours=3)
    payments.pay(
        rw.world.ctx,
        account(rw),
        invoice.id,
        {"amount": "600.00", "reference": "TR-42", "paid_at": "2026-01-10T09:00:00Z"},
    )
    report_jobs.run_hourly(rw.at(DIGEST_RUN))
    [digest] = [e for _, e in rw.world.mailer.sent if e.to_address == "owner@acme.example"]
    text = part(digest, "plain")
    assert "Payments" in text
    assert "INV-PAID, Globex: Paid 600.00 EUR, Jan 10, 2026 (Reference TR-42)" in text
    assert "INV-EARLY" not in text
    assert "TR-42" in part(digest, "html")


def test_a_day_with_only_a_payment_is_not_quiet(rw: ReportWorld) -> None:
    rw.world.clock.set(datetime(2026, 1, 12, 10, 0, tzinfo=UTC))
    invoice = send(rw, "INV-Q")
    rw.world.clock.set(YESTERDAY)
    payments.pay(rw.world.ctx, account(rw), invoice.id, None)
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN))["digest_sent"] == 1
