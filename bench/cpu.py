"""Section 3: CPU time of Sobre's own code per pixel open and per SES event.

AWS is answered by the in-memory fakes of tests/fakes.py (``make_context``), so only
Sobre's code (and the fakes' copying) is timed, per call, with the calling thread's CPU
clock. The Chalice route cannot be given the fakes without patching
``chalicelib.container``, so the route is measured two other ways: with a forged token
(Chalice dispatch, middleware, Powertools and the token check: no storage at all), and
with a valid token against the moto server (CPU of this process, the stores' light
DynamoDB client included, as deployed; moto runs in its own process).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from bench.core import ACCOUNT, Mode, Row, quiet, summary_ms, verdict
from bench.fixtures import (
    SES_CASES,
    USER_AGENT,
    LambdaContext,
    account,
    clone,
    invoice_body,
    pixel_event,
    routed_email,
    sent_invoice,
    ses_event,
    store_copies,
    tokens_for,
)
from chalicelib.adapters.dynamo import items as dynamo_items
from chalicelib.context import Context
from chalicelib.core.model import Invoice, MessageRef, iso, parse_iso
from chalicelib.sending import service as sending_service
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service
from tests.fakes import FakeInvoiceStore, World, make_context, make_world

SECTION = "3 CPU per request"
TARGET_MS = 1.0
T = TypeVar("T")


def timed(inputs: Sequence[T], call: Callable[[T], object]) -> tuple[list[float], list[float]]:
    """(thread CPU seconds, wall seconds) of ``call`` on each input, output silenced."""
    cpu: list[float] = []
    wall: list[float] = []
    with quiet():
        for value in inputs:
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            call(value)
            c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
            cpu.append((c1 - c0) / 1e9)
            wall.append((w1 - w0) / 1e9)
    return cpu, wall


class MarshallingInvoiceStore(FakeInvoiceStore):
    """The fake store, but keeping each summary as the DynamoDB item the real adapter
    writes (``dynamo_items.summary_attributes``) and reading it back the same way
    (``dynamo_items.from_summary``): the
    adapter's own CPU on the summary, the one item every open reads, no I/O. Content,
    counters and facts stay the fake's."""

    def __init__(self, retention_days: int = 180) -> None:
        super().__init__()
        self.raw: dict[str, dict[str, Any]] = {}
        self._retention = timedelta(days=retention_days)

    def _put(self, invoice: Invoice) -> None:
        expires = parse_iso(invoice.created_at) + self._retention
        raw = dynamo_items.summary_attributes(invoice, expires)
        if invoice.version is not None:  # put_versioned's, as the table holds it
            raw["version"] = {"N": str(invoice.version)}
        self.raw[invoice.id] = raw

    def create(self, invoice: Invoice) -> bool:
        if not super().create(invoice):
            return False
        self._put(invoice)
        return True

    def get_summary(self, invoice_id: str, recipient_id: str | None = None) -> Invoice | None:
        raw = self.raw.get(invoice_id)
        if raw is None:
            return None
        invoice = dynamo_items.from_summary(raw)
        return self._with_counters(invoice, [recipient_id] if recipient_id else [])

    def save_summary(self, invoice: Invoice) -> None:
        super().save_summary(invoice)  # the version check; raises ConcurrentUpdate
        self._put(invoice)


def _world_with_invoices(
    base: World, store: FakeInvoiceStore, count: int, emails: Sequence[str]
) -> tuple[Context, list[Invoice]]:
    """A context over ``base``'s fakes (and ``store``) holding ``count`` copies of an
    invoice the service sent."""

    ctx = make_context(
        invoices=store,
        accounts=base.accounts,
        unprocessed=base.unprocessed,
        mailer=base.mailer,
        metrics=base.metrics,
        clock=base.clock,
    )
    owner = account()
    base.accounts.put_account(owner)
    with quiet():
        template = sending_service.send_invoice(
            ctx, owner, invoice_body(list(emails)), None
        ).invoice
    stored = store.get(template.id)
    assert stored is not None
    copies = []
    for _ in range(count):
        copy = clone(stored)
        assert store.create(copy)
        copies.append(copy)
    return ctx, copies


def _row(measure: str, cpu: list[float], wall: list[float], target: bool, **data: Any) -> Row:
    s = summary_ms(cpu)
    ok = s["median_ms"] < TARGET_MS and s["p99_ms"] < TARGET_MS
    return Row(
        SECTION,
        measure,
        f"median {s['median_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms CPU (n={s['n']:,})",
        f"< {TARGET_MS:g} ms median and p99" if target else "",
        verdict(ok) if target else "info",
        {"cpu": s, "wall": summary_ms(wall), **data},
    )


def pixel_opens(mode: Mode, store: FakeInvoiceStore) -> tuple[list[float], list[float]]:

    world = make_world()
    ctx, invoices = _world_with_invoices(
        world, store, mode.cpu_invoices, ["ana@globex.example", "luis@globex.example"]
    )
    tokens = [
        ctx.signer.token_for(invoice.id, recipient.id, "pixel") + ".gif"
        for invoice in invoices
        for recipient in invoice.recipients
    ]
    results: list[bool] = []

    def open_pixel(n: int) -> None:
        world.clock.advance(1)
        results.append(
            tracking_service.record_pixel_open(
                ctx, tokens[n % len(tokens)], USER_AGENT, "203.0.113.9", "GET", f"req-{n}"
            )
        )

    timed(range(min(50, mode.cpu_opens)), lambda n: open_pixel(-1 - n))  # warm-up
    results.clear()
    cpu, wall = timed(range(mode.cpu_opens), open_pixel)
    assert all(results), "an open was not recorded"
    return cpu, wall


def ses_events(mode: Mode) -> list[Row]:

    per_type: dict[str, dict[str, float]] = {}
    all_cpu: list[float] = []
    all_wall: list[float] = []
    dup_cpu: list[float] = []
    dup_wall: list[float] = []
    world = make_world()
    for case in SES_CASES:
        ctx, invoices = _world_with_invoices(
            world, world.invoices, mode.cpu_events_per_type, case.recipients
        )
        events = []
        for invoice in invoices:
            recipient = next(r for r in invoice.recipients if r.email == routed_email(case))
            message_id = f"bench-{uuid.uuid4()}"
            world.invoices.put_message_refs(
                [MessageRef(message_id, ACCOUNT, invoice.id, recipient.id)], 0
            )
            # Reported now: the fixtures' 2016 times precede the invoice (kept, not applied).
            at = iso(ctx.clock())
            events.append(ses_event(case, invoice.id, recipient.id, message_id, at))
        outcomes: list[dict[str, int]] = []

        def process(event: dict[str, Any], ctx: Context = ctx, out: list[Any] = outcomes) -> None:
            out.append(ses_service.process_sns_event(ctx, event))

        cpu, wall = timed(events, process)
        assert all(o["processed"] == 1 for o in outcomes), (case.file, outcomes[:3])
        per_type[case.label] = summary_ms(cpu)
        all_cpu += cpu
        all_wall += wall
        outcomes.clear()
        cpu, wall = timed(events[:50], process)
        assert all(o["duplicate"] == 1 for o in outcomes), (case.file, outcomes[:3])
        dup_cpu += cpu
        dup_wall += wall
    worst = max(per_type.items(), key=lambda kv: kv[1]["median_ms"])
    rows = [
        _row(
            f"SES event, service over fakes ({len(SES_CASES)} types)",
            all_cpu,
            all_wall,
            False,
            per_type=per_type,
        ),
        _row("SES event, duplicate delivery, service over fakes", dup_cpu, dup_wall, False),
    ]
    rows[0].value += f"; slowest type {worst[0]} median {worst[1]['median_ms']:.3f} ms"
    return rows


def route_forged(mode: Mode) -> tuple[list[float], list[float]]:
    from app import app

    token = "AQ" + "A" * 56
    events = [pixel_event(token) for _ in range(mode.cpu_route_calls)]
    context = LambdaContext()

    def call(event: dict[str, Any]) -> None:
        response = app(event, context)
        assert response["statusCode"] == 200, response
        assert response["isBase64Encoded"], response

    timed(events[:20], call)  # warm-up
    return timed(events, call)


def route_moto(mode: Mode) -> tuple[list[float], list[float]]:
    """The pixel route with the real adapters against the moto server."""
    from app import app

    tokens = tokens_for(store_copies(sent_invoice(["ana@globex.example"]), 50))
    calls = max(20, mode.cpu_route_calls // 2)
    events = [pixel_event(tokens[n % len(tokens)]) for n in range(calls)]
    context = LambdaContext()

    def call(event: dict[str, Any]) -> None:
        response = app(event, context)
        assert response["statusCode"] == 200, response

    timed(events[:10], call)  # warm-up: the client, the first connection
    return timed(events[10:], call)


def run(mode: Mode) -> list[Row]:
    rows: list[Row] = []
    cpu, wall = pixel_opens(mode, FakeInvoiceStore())
    rows.append(
        _row("pixel open: tracking_service.record_pixel_open over tests.fakes", cpu, wall, True)
    )
    service_median = statistics.median(cpu)
    cpu, wall = pixel_opens(mode, MarshallingInvoiceStore())
    rows.append(_row("pixel open: service + DynamoDB item marshalling, no I/O", cpu, wall, True))
    cpu, wall = route_forged(mode)
    rows.append(_row("pixel route app(event, ctx), forged token (no storage)", cpu, wall, False))
    route_median = statistics.median(cpu)
    estimate_ms = (service_median + route_median) * 1000
    rows.append(
        Row(
            SECTION,
            "pixel request ≈ route dispatch + service (sum of medians)",
            f"≈ {estimate_ms:.3f} ms CPU",
            f"< {TARGET_MS:g} ms",
            verdict(estimate_ms < TARGET_MS),
            {"estimate_ms": round(estimate_ms, 4)},
        )
    )
    cpu, wall = route_moto(mode)
    rows.append(
        _row(
            "pixel route, real adapters vs moto (this process; its client incl.)",
            cpu,
            wall,
            False,
            kind="pixel_route",  # section 10 prices its CPU
        )
    )
    rows[-1].value += f"; wall median {statistics.median(wall) * 1000:.1f} ms"
    rows.extend(ses_events(mode))
    return rows
