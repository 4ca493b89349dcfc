"""Section 2: listing the opened invoices through the ``by_status`` index (their status
group's partition, ``core.model.partitions_of``) versus a table Scan with a filter,
over many invoice summaries of which 1 % were opened."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.core import (
    ACCOUNT,
    COUNTER,
    REGION,
    TABLE,
    Backends,
    Mode,
    Row,
    dynamodb_at,
    quiet,
    verdict,
)
from bench.fixtures import USER_AGENT, account, clone, invoice_body
from chalicelib.adapters.dynamo import invoices as dynamo_invoices
from chalicelib.adapters.dynamo import items as dynamo_items
from chalicelib.adapters.dynamo import models
from chalicelib.core.model import Invoice, iso, partitions_of
from chalicelib.sending import service as sending_service
from chalicelib.tracking import service as tracking_service

SECTION = "2 index vs scan"
INDEX_TABLE = "sobre-bench-index"
OPENED_EVERY = 100  # 1 %


def templates() -> tuple[Invoice, Invoice]:
    """A sent and an opened invoice (two recipients), made by the service itself."""
    from tests.fakes import make_world

    world = make_world()
    owner = account()
    world.accounts.put_account(owner)
    body = invoice_body(["ana@globex.example", "luis@globex.example"])
    with quiet():
        sent = sending_service.send_invoice(world.ctx, owner, body, None).invoice
        opened = sending_service.send_invoice(world.ctx, owner, body, None).invoice
        token = world.ctx.signer.token_for(opened.id, opened.recipients[0].id, "pixel")
        world.clock.advance(3600)
        tracking_service.record_pixel_open(
            world.ctx, token, USER_AGENT, "198.51.100.7", "GET", "r1"
        )
    sent_now, opened_now = world.invoices.get(sent.id), world.invoices.get(opened.id)
    assert sent_now is not None
    assert opened_now is not None
    assert opened_now.status == "opened"
    return sent_now, opened_now


def run(mode: Mode, backends: Backends) -> list[Row]:
    """On dynalite when installed: faster here at bulk writes and scans than moto, and
    it pages scans at 1 MB as DynamoDB does. Else on moto."""

    count = mode.index_invoices
    sent, opened = templates()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    expires = start + timedelta(days=180)
    items: list[Any] = []
    for n in range(count):
        template = opened if n % OPENED_EVERY == 0 else sent
        invoice = clone(template, iso(start + timedelta(seconds=n)))
        raw = dynamo_items.summary_attributes(invoice, expires)
        items.append(models.InvoiceItem.from_raw_data({**raw, "version": {"N": "1"}}))
    opened_count = len(range(0, count, OPENED_EVERY))

    rows: list[Row] = []
    backend = "dynalite" if backends.dynalite else "moto"
    with dynamodb_at(backends.dynalite, INDEX_TABLE):
        try:
            models.configure(INDEX_TABLE, REGION)
            began = time.perf_counter()
            with COUNTER.measure() as load, models.InvoiceItem.batch_write() as batch:
                for item in items:
                    batch.save(item)
            load_seconds = time.perf_counter() - began
            rows.append(
                Row(
                    SECTION,
                    f"load {count:,} invoices, {opened_count} opened ({backend})",
                    f"{load_seconds:.1f} s, {load.calls['BatchWriteItem']} BatchWriteItem",
                    data={"backend": backend, "seconds": round(load_seconds, 2), **load.as_json()},
                )
            )

            store = dynamo_invoices.DynamoInvoiceStore(180)
            (partition,) = partitions_of(ACCOUNT, 1, "opened", "unpaid")
            began = time.perf_counter()
            found_index = 0
            with COUNTER.measure() as index:
                cursor: dict[str, Any] | None = None
                while True:
                    page = store.list_page([partition], 100, cursor, "opened")
                    found_index += len(page.items)
                    cursor = page.cursor
                    if not cursor:
                        break
            index_seconds = time.perf_counter() - began

            began = time.perf_counter()
            with COUNTER.measure() as scan:
                condition = (models.InvoiceItem.account_id == ACCOUNT) & (
                    models.InvoiceItem.status == "opened"
                )
                found_scan = sum(1 for _ in models.InvoiceItem.scan(condition))
            scan_seconds = time.perf_counter() - began
        finally:
            models.configure(TABLE, REGION)

    assert found_index == found_scan == opened_count, (found_index, found_scan, opened_count)
    rows.append(
        Row(
            SECTION,
            "opened invoices via by_status index: items read",
            f"{index.scanned:,} ({index.calls['Query']} Query, {index_seconds * 1000:.0f} ms"
            + (f", {index.capacity:.1f} RCU)" if index.capacity else ")"),
            f"= {opened_count} (the matches only)",
            verdict(index.scanned == opened_count),
            {"seconds": round(index_seconds, 3), **index.as_json()},
        )
    )
    rows.append(
        Row(
            SECTION,
            "opened invoices via Scan + filter: items read",
            f"{scan.scanned:,} ({scan.calls['Scan']} Scan pages, {scan_seconds * 1000:.0f} ms"
            + (f", {scan.capacity:.1f} RCU)" if scan.capacity else ")"),
            data={"seconds": round(scan_seconds, 3), **scan.as_json()},
        )
    )
    ratio = scan.scanned / max(1, index.scanned)
    ideal = count / opened_count
    capacity = scan.capacity / index.capacity if index.capacity else None
    rows.append(
        Row(
            SECTION,
            "scan / index, items read (same run)",
            f"{ratio:.0f}x"
            + (f" (capacity {capacity:.0f}x" if capacity else " (")
            + f"{', ' if capacity else ''}time {scan_seconds / max(index_seconds, 1e-9):.0f}x)",
            f"≈ {ideal:.0f}x (1 in {OPENED_EVERY} opened)",
            verdict(ratio >= 0.9 * ideal),
            {
                "items_read_ratio": round(ratio, 1),
                "capacity_ratio": round(capacity, 1) if capacity else None,
                "time_ratio": round(scan_seconds / max(index_seconds, 1e-9), 1),
                "invoices": count,
                "opened": opened_count,
            },
        )
    )
    return rows
