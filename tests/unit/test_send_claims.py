"""Send claims an operator settles (issue 15, build point 1 finished): a send claimed
whose outcome was never recorded is listed and released by the operator, never mailed
again by a retry; reminders take the same per-recipient claim, so a retried scheduled
run mails nobody twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.core.model import OutgoingEmail, iso
from chalicelib.core.sends import RELEASED, SendOutcome
from chalicelib.errors import Conflict
from chalicelib.reports import service as report_jobs
from chalicelib.sending import claims, service
from tests.fakes import FakeInvoiceStore
from tests.fakes_reports import ReportWorld, make_report_world
from tests.unit.test_reports import acme as report_account
from tests.unit.test_reports import delivered_invoice, morning, sent_to
from tests.unit.test_send_once import acme, body, times_mailed, world_with

pytestmark = pytest.mark.disable_socket


class KilledAfterSes(FakeInvoiceStore):
    """The function dies after SES took the message to ``victim``, before its outcome
    was kept (once)."""

    def __init__(self, victim: str) -> None:
        super().__init__()
        self.victim = victim

    def settle_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        outcome: SendOutcome,
        reminder: bool = False,
        unsettled_only: bool = False,
    ) -> bool:
        invoice = self.get(invoice_id)
        emails = {r.id: r.email for r in invoice.recipients} if invoice else {}
        if not unsettled_only and emails.get(recipient_id) == self.victim:
            self.victim = ""
            raise RuntimeError("the function was killed here")
        return super().settle_send(
            invoice_id, recipient_id, attempt, outcome, reminder, unsettled_only
        )


ANA = "ana@example.com"


def test_an_unsettled_send_is_listed_not_mailed_again_and_released_by_the_operator() -> None:
    store = KilledAfterSes(ANA)
    w = world_with(store)
    # The sender dies after SES took ana's message; SQS delivers it again, and the
    # claim (taken, never settled) keeps it from being mailed twice.
    service.send_invoice(w.ctx, acme(), body(ANA, "ben@example.net"), None)
    assert times_mailed(w) == {ANA: 1, "ben@example.net": 1}
    assert w.metrics.counts["SendsUnsettled"] == 1
    [unsettled] = claims.list_unsettled(w.ctx, store.unsettled_sends())
    assert (unsettled.email, unsettled.status) == (ANA, "queued")
    assert (unsettled.kind, unsettled.attempt) == ("send", 1)
    invoice_id, recipient_id = unsettled.invoice_id, unsettled.recipient_id
    assert claims.list_unsettled(w.ctx, store.unsettled_sends(), "other") == []
    # A retry mails nobody twice: the claimed recipient stays unsettled.
    service.retry_failed(w.ctx, acme(), invoice_id)
    assert w.metrics.counts["SendsUnsettled"] == 2
    assert times_mailed(w) == {ANA: 1, "ben@example.net": 1}
    # Too young to release: its holder may still be running.
    now = w.clock()
    with pytest.raises(Conflict):
        claims.release_claims(w.ctx, store.unsettled_sends(), invoice_id, ANA, now)
    later = now + timedelta(minutes=16)
    released = claims.release_claims(w.ctx, store.unsettled_sends(), invoice_id, ANA, later)
    assert [u.recipient_id for u in released] == [recipient_id]
    detail = store.get(invoice_id)
    assert detail is not None
    recipient = next(r for r in detail.recipients if r.id == recipient_id)
    assert (recipient.status, recipient.failure_reason) == ("failed", RELEASED)
    assert claims.list_unsettled(w.ctx, store.unsettled_sends()) == []
    with pytest.raises(Conflict):  # nothing left to release
        claims.release_claims(w.ctx, store.unsettled_sends(), invoice_id, ANA, later)
    # The operator decided: the next POST /send mails them as attempt 2, once.
    service.retry_failed(w.ctx, acme(), invoice_id)
    service.retry_failed(w.ctx, acme(), invoice_id)
    assert times_mailed(w) == {ANA: 2, "ben@example.net": 1}


def test_a_settled_claim_is_not_released() -> None:
    w = world_with()
    invoice = service.send_invoice(w.ctx, acme(), body(ANA), None).invoice
    with pytest.raises(Conflict):
        claims.release_claims(w.ctx, w.invoices.unsettled_sends(), invoice.id, ANA, w.clock(), True)


class SesDownFor:
    """A mailer hook: SES times out for ``address`` (the message may have gone)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.down = True

    def __call__(self, email: OutgoingEmail) -> None:
        if self.down and email.to_address == self.address:
            raise TimeoutError("Read timeout on endpoint URL")


@pytest.fixture
def rw() -> ReportWorld:
    world = make_report_world()
    world.world.accounts.put_account(report_account(reminders=True, reminder_after_days=3))
    return world


def test_a_retried_scheduled_run_reminds_nobody_twice(rw: ReportWorld) -> None:
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    ses = SesDownFor("ben@globex.example")
    rw.world.mailer.before_send = ses
    first = report_jobs.run_hourly(rw.at(morning(9)))
    assert first["reminders"] == 1  # queued; the sender then met SES failing on ben
    assert len(sent_to(rw, "ana@globex.example")) == 2  # the invoice, then the reminder
    ses.down = False
    for message in list(rw.world.sends.queued):  # SQS delivering the reminder again
        rw.world.sends.enqueue([message])
    report_jobs.run_hourly(rw.at(morning(9) + timedelta(minutes=5)))  # the retry
    report_jobs.run_hourly(rw.at(morning(9) + timedelta(minutes=10)))
    assert len(sent_to(rw, "ana@globex.example")) == 2  # not reminded twice
    assert len(sent_to(rw, "ben@globex.example")) == 1  # his reminder's outcome is unknown
    [unsettled] = claims.list_unsettled(rw.world.ctx, rw.world.invoices.unsettled_sends())
    assert (unsettled.invoice_id, unsettled.email) == (invoice.id, "ben@globex.example")
    assert (unsettled.kind, unsettled.attempt) == ("reminder", 1)
    summary = rw.world.invoices.get(invoice.id)
    assert summary is not None
    assert summary.reminders_sent == 1  # ana's reminder counted
    released = claims.release_claims(
        rw.world.ctx,
        rw.world.invoices.unsettled_sends(),
        invoice.id,
        "ben@globex.example",
        morning(9) + timedelta(hours=1),
    )
    assert [u.kind for u in released] == ["reminder"]
    assert claims.list_unsettled(rw.world.ctx, rw.world.invoices.unsettled_sends()) == []
    assert len(sent_to(rw, "ben@globex.example")) == 1  # a released reminder is not resent


def test_a_reminder_claimed_by_a_run_that_stopped_is_queued_after_its_lease(
    rw: ReportWorld,
) -> None:
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    account = rw.world.accounts.get_account("acme")
    assert account is not None
    stopped_at = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    # A run claimed reminder 1 and stopped before queueing it (a crash, a timeout).
    marker = f"REMINDER#{invoice.id}#1"
    assert rw.store.claim(marker, iso(stopped_at), 0)
    rw.world.clock.set(stopped_at + timedelta(minutes=10))
    with pytest.raises(Conflict, match="being sent"):  # it may still be queueing
        report_jobs.remind_now(rw.jobs, account, invoice.id)
    rw.world.clock.set(stopped_at + report_jobs.REMINDER_LEASE + timedelta(seconds=1))
    reminded = report_jobs.remind_now(rw.jobs, account, invoice.id)
    assert reminded.number == 1
    assert rw.store.markers[marker]["state"] == "queued"
    for address in ("ana@globex.example", "ben@globex.example"):
        assert len(sent_to(rw, address)) == 2  # the invoice, then the reminder, once
