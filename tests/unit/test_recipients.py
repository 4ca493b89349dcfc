"""New recipients of an invoice already sent (``POST /invoices/{id}/recipients``): each
gets their own message, tokens and history, through the same send path."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.model import Account, Invoice
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.sending import payments
from chalicelib.sending import service as sending_service
from chalicelib.sending.views import added_response
from tests.fakes_reports import ReportWorld, make_report_world
from tests.unit.test_reports import acme, notify, open_as_person, sent_to, token

pytestmark = pytest.mark.disable_socket


@pytest.fixture
def rw() -> ReportWorld:
    w = make_report_world()
    w.world.accounts.put_account(acme())
    return w


def account(rw: ReportWorld) -> Account:
    found = rw.world.accounts.get_account("acme")
    assert found is not None
    return found


def send(rw: ReportWorld, *emails: str) -> Invoice:
    body: dict[str, Any] = {
        "number": "INV-5",
        "customer": {"name": "Globex"},
        "recipients": [{"email": e} for e in emails],
        "currency": "EUR",
        "total": "10.00",
        "due_date": "2026-02-28",
    }
    return sending_service.send_invoice(rw.world.ctx, account(rw), body, None).invoice


def add(rw: ReportWorld, invoice: Invoice, *emails: str) -> dict[str, Any]:
    body = {"recipients": [{"email": e, "name": e.split("@")[0].title()} for e in emails]}
    result = sending_service.add_recipients(rw.world.ctx, account(rw), invoice.id, body)
    return added_response(result.invoice, result.added)


def test_a_bounced_invoice_gets_a_new_recipient_who_is_sent_and_tracked(rw: ReportWorld) -> None:
    invoice = send(rw, "old@globex.example")
    notify(rw, invoice, "Bounce", "old@globex.example", rw.world.clock())
    rw.world.clock.advance(minutes=10)
    answer = add(rw, invoice, "accounts@globex.example")
    [new] = answer["recipients"]
    # Queued by the request (202); the world's queue ran the send at once.
    assert (new["email"], new["status"]) == ("accounts@globex.example", "queued")
    assert new["error"] is None
    [message] = sent_to(rw, "accounts@globex.example")
    assert len(sent_to(rw, "old@globex.example")) == 1  # the bounced one is not mailed again
    # Their own token: the open counts for them, not for the bounced one.
    assert token(message) != token(sent_to(rw, "old@globex.example")[0])
    rw.world.clock.advance(hours=1)
    open_as_person(rw, message, "req-new")
    stored = rw.world.invoices.get(invoice.id)
    assert stored is not None
    added = stored.recipient_by_email("accounts@globex.example")
    assert added is not None
    assert added.id == new["id"]
    assert (added.status, added.open_count, stored.status) == ("opened", 1, "opened")
    sent = [e for e in rw.world.invoices.history(invoice.id) if e.type == "sent"]
    assert {e.recipient_id for e in sent} == {r.id for r in stored.recipients}


def test_one_already_on_the_invoice_is_409_and_nothing_is_sent(rw: ReportWorld) -> None:
    invoice = send(rw, "ana@globex.example")
    with pytest.raises(Conflict) as caught:
        add(rw, invoice, "new@globex.example", "ANA@globex.example")
    assert caught.value.details["emails"] == ["ANA@globex.example"]
    assert not sent_to(rw, "new@globex.example")
    assert len(rw.world.invoices.invoices[invoice.id].recipients) == 1


def test_at_most_fifty_in_all(rw: ReportWorld) -> None:
    invoice = send(rw, *[f"r{n}@globex.example" for n in range(45)])
    add(rw, invoice, *[f"s{n}@globex.example" for n in range(5)])
    assert len(rw.world.invoices.invoices[invoice.id].recipients) == 50
    with pytest.raises(ValidationFailed) as caught:
        add(rw, invoice, "one-more@globex.example")
    assert caught.value.details[0]["field"] == "recipients"


@pytest.mark.parametrize(
    "body",
    [{}, {"recipients": []}, {"recipients": [{"email": "not-an-address"}]}, {"x": 1}, []],
)
def test_a_bad_body_is_refused(rw: ReportWorld, body: Any) -> None:
    invoice = send(rw, "ana@globex.example")
    with pytest.raises(ValidationFailed):
        sending_service.add_recipients(rw.world.ctx, account(rw), invoice.id, body)


def test_a_void_invoice_or_another_accounts_is_refused(rw: ReportWorld) -> None:
    invoice = send(rw, "ana@globex.example")
    other = Account(id="globex", name="Globex", from_address="ar@globex.example")
    with pytest.raises(NotFound):
        sending_service.add_recipients(
            rw.world.ctx, other, invoice.id, {"recipients": [{"email": "x@y.example"}]}
        )
    payments.void(rw.world.ctx, account(rw), invoice.id, None)
    with pytest.raises(Conflict):
        add(rw, invoice, "new@globex.example")
