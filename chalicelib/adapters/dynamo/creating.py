"""Creating invoices, one or a batch (``POST /invoices/batch``): the content first
(never overwritten), then the number's reference, then the summary, whose conditional
put is the creation — so an invoice that exists always has its content and is found by
its number. For a batch each step runs for every invoice before the next: the
conditional puts (one item each, nothing to batch: BatchWriteItem takes no condition)
run ``IN_FLIGHT`` at a time on the one shared client, and the unconditional writes (the
numbers' references, the creations' facts) go 25 to a BatchWriteItem."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from typing import TypeVar

from chalicelib.adapters.dynamo import models  # lazy: see __init__.py
from chalicelib.adapters.dynamo.helpers import put_versioned, saved, table_client
from chalicelib.adapters.dynamo.items import _CONTENT_FIELDS, CONTENT, summary_attributes
from chalicelib.adapters.dynamo.numbers import number_item
from chalicelib.core.model import Invoice
from chalicelib.core.stored import stored_json

IN_FLIGHT = 8  # conditional puts at once (botocore's pool holds 10 connections)
BATCH_WRITE = 25  # BatchWriteItem's most items

T = TypeVar("T")
R = TypeVar("R")


def create_all(invoices: Sequence[Invoice], ttl: Callable[[Invoice], datetime]) -> list[bool]:
    """Store each new invoice; for each, False when one with its id already existed."""
    if not invoices:
        return []
    table_client()  # the shared client exists before any thread asks for it
    each(lambda invoice: _put_content(invoice, ttl(invoice)), invoices)
    with models.NumberRefItem.batch_write() as batch:
        for invoice in invoices:
            batch.save(number_item(invoice, ttl(invoice)))
    return each(lambda invoice: _put_summary(invoice, ttl(invoice)), invoices)


def each(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on every item, ``IN_FLIGHT`` at a time (in this thread for one item),
    the answers in order; the first error raised is raised."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(IN_FLIGHT, len(items))) as pool:
        return list(pool.map(work, items))


def _put_content(invoice: Invoice, expires: datetime) -> bool:
    content = {name: getattr(invoice, name) for name in _CONTENT_FIELDS}
    content["lines"] = [asdict(line) for line in invoice.lines]
    # Never overwritten: a conflicting retry of an Idempotency-Key cannot replace it.
    item = models.ContentItem(
        pk=f"INVOICE#{invoice.id}", sk=CONTENT, data=stored_json(content), expires_at=expires
    )
    return saved(item, models.ContentItem.pk.does_not_exist())


def _put_summary(invoice: Invoice, expires: datetime) -> bool:
    version = put_versioned(summary_attributes(invoice, expires), None)  # never overwrites
    if version is None:
        return False
    invoice.version = version
    return True
