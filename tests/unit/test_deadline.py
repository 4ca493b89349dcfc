"""The public routes' storage deadline (chalicelib/tracking/deadline.py): a write that
storage does not finish in time is queued, the request answers at once, the abandoned
write stops at its next storage call, and the queued copy applies once — recounting
when the first write may have counted. Over the fakes, with a store whose calls can be
made to hang (threads, no sockets)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from chalicelib.core.model import Invoice
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking.deadline import Attempt, run_within
from chalicelib.tracking.facts import DeferredFetch, FetchRequest
from tests.fakes import FakeFetchQueue, FakeInvoiceStore, World, make_context, make_world
from tests.unit.test_service import IP, UA_IOS_MAIL, link_token, send, stored

pytestmark = pytest.mark.disable_socket
DEADLINE_MS = 100


class HangingStore(FakeInvoiceStore):
    """A store whose named calls wait until ``release()`` (storage paused)."""

    def __init__(self) -> None:
        super().__init__()
        self.hanging: set[str] = set()
        self._gate = threading.Event()
        self._gate.set()
        self.entered: list[str] = []

    def hang(self, *names: str) -> None:
        self.hanging = set(names)
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def _maybe_wait(self, name: str) -> None:
        self.entered.append(name)
        if name in self.hanging:
            assert self._gate.wait(timeout=10), "never released"

    def get_summary(self, invoice_id: str, recipient_id: str | None = None) -> Invoice | None:
        self._maybe_wait("get_summary")
        return super().get_summary(invoice_id, recipient_id)

    def get(self, invoice_id: str) -> Invoice | None:
        self._maybe_wait("get")
        return super().get(invoice_id)

    def count(self, invoice_id: str, change: Any, expires_at: int) -> bool:
        self._maybe_wait("count")
        return super().count(invoice_id, change, expires_at)


@pytest.fixture
def world() -> World:
    base = make_world(fetch_deadline_seconds=DEADLINE_MS / 1000)
    store = HangingStore()
    ctx = make_context(
        invoices=store,
        accounts=base.accounts,
        unprocessed=base.unprocessed,
        mailer=base.mailer,
        pdfs=base.pdfs,
        metrics=base.metrics,
        clock=base.clock,
        settings=base.ctx.settings,
    )
    ctx.deferred = FakeFetchQueue()
    return World(
        ctx,
        store,
        base.accounts,
        base.unprocessed,
        base.mailer,
        base.metrics,
        base.clock,
        base.pdfs,
    )


def queue(w: World) -> FakeFetchQueue:
    assert isinstance(w.ctx.deferred, FakeFetchQueue)
    return w.ctx.deferred


def store(w: World) -> HangingStore:
    assert isinstance(w.invoices, HangingStore)
    return w.invoices


def opens(w: World, invoice: Invoice) -> tuple[int, int]:
    [ana] = stored(w, invoice.id).recipients
    return ana.open_count, ana.machine_open_count


def open_pixel(w: World, invoice: Invoice, request_id: str) -> tuple[bool, float]:
    token = link_token(w, invoice, "ana@example.com", "pixel")
    began = time.monotonic()
    recorded = tracking_service.record_pixel_open(w.ctx, token, UA_IOS_MAIL, IP, "GET", request_id)
    return recorded, time.monotonic() - began


def wait_for(condition: Any, seconds: float = 5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_healthy_store_records_in_the_request_and_queues_nothing(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    recorded, _ = open_pixel(world, invoice, "r1")
    assert recorded is True
    assert queue(world).bodies == []
    assert opens(world, invoice) == (1, 0)


def test_a_hung_store_answers_by_the_deadline_and_the_queued_open_counts_once(
    world: World,
) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    store(world).hang("get_summary")
    recorded, took = open_pixel(world, invoice, "r1")
    assert recorded is False
    assert took < DEADLINE_MS / 1000 + 0.5
    [body] = queue(world).bodies
    assert queue(world).connected == 1  # built while the write was late, before the deadline
    deferred = DeferredFetch.from_json(body)
    assert (deferred.invoice_id, deferred.fact.type, deferred.recount) == (
        invoice.id,
        "open",
        False,
    )
    assert world.metrics.counts["FetchesDeferred"] == 1
    # Storage comes back: the abandoned write stops before its next call ...
    store(world).release()
    wait_for(lambda: store(world).entered.count("get_summary") >= 1)
    time.sleep(0.1)
    assert [e for e in world.invoices.history(invoice.id) if e.type == "open"] == []
    # ... and the queued copy applies, once however often it is delivered.
    assert tracking_service.apply_deferred(world.ctx, [body, body]) == 2
    assert opens(world, invoice) == (1, 0)
    assert [e.key for e in world.invoices.history(invoice.id) if e.type == "open"] == [
        deferred.fact.key
    ]


def test_a_write_caught_while_counting_is_recounted_not_counted_again(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    store(world).hang("count")
    recorded, _ = open_pixel(world, invoice, "r1")
    assert recorded is False
    [body] = queue(world).bodies
    assert DeferredFetch.from_json(body).recount is True
    # The count in flight lands when storage comes back ...
    store(world).release()
    wait_for(lambda: opens(world, invoice) == (1, 0))
    # ... and its dedup slot is gone (overwritten by other changes meanwhile): adding
    # again would count twice; the recount from the facts does not.
    for counters in store(world).counters.values():
        counters.slots.clear()
    tracking_service.apply_deferred(world.ctx, [body])
    assert opens(world, invoice) == (1, 0)


def test_fetches_during_an_outage_are_each_recorded_once_afterwards(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    store(world).hang("get_summary", "count")
    for n in range(20):  # more than the pool's threads: later ones never start
        world.clock.advance(seconds=30)
        recorded, took = open_pixel(world, invoice, f"r{n}")
        assert recorded is False
        assert took < DEADLINE_MS / 1000 + 0.5
    assert len(queue(world).bodies) == 20
    store(world).release()
    time.sleep(0.2)
    tracking_service.apply_deferred(world.ctx, queue(world).bodies)
    opens_now = [e for e in world.invoices.history(invoice.id) if e.type == "open"]
    assert len(opens_now) == 20
    assert sum(opens(world, invoice)) == 20


def test_the_fact_is_logged_when_the_queue_is_down_too(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    store(world).hang("get_summary")
    queue(world).refuse = True
    token = link_token(world, invoice, "ana@example.com", "pixel")
    with pytest.raises(tracking_service.FetchLost) as lost:
        tracking_service.record_pixel_open(world.ctx, token, UA_IOS_MAIL, IP, "GET", "r1")
    # The message is the fact itself: the log is where an operator finds it.
    assert DeferredFetch.from_json(str(lost.value)).invoice_id == invoice.id
    assert world.metrics.counts["FetchesLost"] == 1
    store(world).release()


def test_the_hosted_page_answers_unavailable_by_the_deadline(world: World) -> None:
    invoice = send(world, "ana@example.com")
    world.clock.advance(minutes=30)
    store(world).hang("get")
    token = link_token(world, invoice, "ana@example.com")
    began = time.monotonic()
    with pytest.raises(tracking_service.StorageLate):
        tracking_service.view_invoice(world.ctx, token, FetchRequest(UA_IOS_MAIL, IP, "GET", "v1"))
    assert time.monotonic() - began < DEADLINE_MS / 1000 + 0.5
    [body] = queue(world).bodies
    assert DeferredFetch.from_json(body).fact.type == "view"
    store(world).release()


def test_a_body_this_code_did_not_write_is_kept_for_an_operator(world: World) -> None:
    assert tracking_service.apply_deferred(world.ctx, ['{"v": 9}', "not json"]) == 0
    kept = world.unprocessed.list_unprocessed(10)
    assert len(kept) == 2
    assert all("deferred fetch" in str(item) for item in kept)


def test_deferred_fetches_round_trip_exactly() -> None:
    body = json.dumps(
        {
            "v": 1,
            "invoice_id": "inv_x",
            "recount": True,
            "fact": {
                "key": "px-1",
                "type": "open",
                "at": "2026-12-02T10:00:00.000000Z",
                "recipient_id": "rcp_y",
                "source": "pixel",
                "details": {"user_agent": "UA", "ip": "198.51.100.0"},
            },
        }
    )
    parsed = DeferredFetch.from_json(body)
    assert DeferredFetch.from_json(parsed.to_json()) == parsed
    with pytest.raises(ValueError, match="not a deferred fetch"):
        DeferredFetch.from_json(body.replace('"open"', '"bounce"'))


def test_run_within_reports_whether_counting_had_started() -> None:
    started = threading.Event()
    release = threading.Event()

    def write(attempt: Attempt) -> int:
        attempt.step("count")
        started.set()
        release.wait(5)
        attempt.step("summary")  # abandoned by now: raises
        return 1

    outcome = run_within(0.05, write)
    assert started.is_set()
    assert (outcome.missed, outcome.may_have_counted) == (True, True)
    release.set()
    assert run_within(1, lambda attempt: 7).value == 7


def test_the_hosted_page_still_answers_unavailable_when_the_queue_is_down_too(
    world: World,
) -> None:
    invoice = send(world, "ana@example.com")
    store(world).hang("get")
    queue(world).refuse = True
    token = link_token(world, invoice, "ana@example.com")
    with pytest.raises(tracking_service.StorageLate) as late:
        tracking_service.view_invoice(world.ctx, token, FetchRequest(UA_IOS_MAIL, IP, "GET", "v1"))
    # The page load is the cause the route logs: nothing else keeps it.
    assert isinstance(late.value.__cause__, tracking_service.FetchLost)
    assert world.metrics.counts["FetchesLost"] == 1
    store(world).release()


class SlowToConnect(HangingStore):
    """A cold container: building the client (imports) takes longer than the deadline."""

    def connect(self) -> None:
        super().connect()
        time.sleep(3 * DEADLINE_MS / 1000)


def test_a_cold_containers_imports_do_not_count_against_the_deadline(world: World) -> None:
    slow = SlowToConnect()
    world.ctx.invoices = slow
    world.invoices = slow
    invoice = send(world, "ana@example.com")
    recorded, _ = open_pixel(world, invoice, "req-cold")
    assert recorded is True  # written, not queued
    assert queue(world).bodies == []
    assert slow.connected == 1
    assert sum(opens(world, invoice)) == 1


def test_a_forged_token_builds_no_client(world: World) -> None:
    recorded = tracking_service.record_pixel_open(
        world.ctx, "AgE" + "A" * 56, UA_IOS_MAIL, IP, "GET", "req-forged"
    )
    assert recorded is False
    assert store(world).connected == 0


def test_a_late_write_has_the_fallback_ready_and_a_quick_one_never_builds_it() -> None:
    built: list[float] = []
    release = threading.Event()

    def slow(attempt: Attempt) -> int:
        release.wait(5)
        return 1

    began = time.monotonic()
    outcome = run_within(0.2, slow, when_late=lambda: built.append(time.monotonic() - began))
    waited = time.monotonic() - began
    release.set()
    assert outcome.missed
    assert len(built) == 1
    assert 0.09 <= built[0] < 0.2  # at half the deadline, while the write was still out
    assert waited < 0.2 + 0.1  # the build was inside the deadline, not after it
    assert run_within(1, lambda attempt: 7, when_late=lambda: built.append(0)).value == 7
    assert len(built) == 1  # answered in time: nothing built

    def failing_build() -> None:
        raise RuntimeError("no queue client")

    release.clear()
    late = run_within(0.1, slow, when_late=failing_build)
    release.set()
    assert late.missed  # the fallback's own failure shows when it is used, not here
