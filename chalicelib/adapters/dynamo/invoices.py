"""The invoice store over DynamoDB (``ports.InvoiceStore``): the invoice item (its
recipients and inline timeline), its archive pages, parked facts, PDF chunks and the
SES message references, all under the invoice's partition or their own key."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamo.helpers import (
    expiry,
    index_key,
    is_index_key,
    listed_invoice,
    save_unchanged,
    saved,
)
from chalicelib.adapters.dynamo.models import (
    ArchivePageItem,
    InvoiceItem,
    MessageRefItem,
    ParkedFactItem,
    PdfChunkItem,
)
from chalicelib.core.model import (
    Invoice,
    Line,
    MessageRef,
    Page,
    TimelineEvent,
    parse_iso,
)
from chalicelib.errors import InvalidCursor

PDF_CHUNK_BYTES = 350 * 1024


def _pack(events: list[TimelineEvent]) -> bytes:
    raw = json.dumps([e.to_dict() for e in events], separators=(",", ":"))
    return zlib.compress(raw.encode("utf-8"), 6)


def _unpack(blob: bytes | None) -> list[TimelineEvent]:
    if not blob:
        return []
    return [TimelineEvent.from_dict(e) for e in json.loads(zlib.decompress(blob))]


_DETAIL_FIELDS = (
    "issue_date",
    "subject",
    "message",
    "reply_to",
    "locale",
    "metadata",
    "body_hash",
    "idempotency_key",
    "shard",
    "tracking",
    "retention_days",
    "has_pdf",
    "archived_keys",
    "archive_pages",
    "reminders_sent",
    "last_reminder_at",
)


def _to_item(invoice: Invoice, expires_at: datetime) -> InvoiceItem:
    activity = f"{invoice.last_activity_at}#{invoice.id}"
    detail = {name: getattr(invoice, name) for name in _DETAIL_FIELDS}
    detail["lines"] = [asdict(line) for line in invoice.lines]
    item = InvoiceItem(
        pk=f"INVOICE#{invoice.id}",
        sk="INVOICE",
        gsi1pk=f"{invoice.account_id}#{invoice.status}#{invoice.shard}",
        gsi1sk=activity,
        gsi2pk=f"{invoice.account_id}#{invoice.shard}",
        gsi2sk=activity,
        account_id=invoice.account_id,
        number=invoice.number,
        customer_name=invoice.customer_name,
        currency=invoice.currency,
        total=invoice.total,
        due_date=invoice.due_date,
        status=invoice.status,
        created_at=invoice.created_at,
        last_activity_at=invoice.last_activity_at,
        recipients=json.dumps([r.to_dict() for r in invoice.recipients], separators=(",", ":")),
        detail=json.dumps(detail, separators=(",", ":")),
        events=_pack(invoice.events),
        expires_at=expires_at,
    )
    if invoice.version is not None:
        item.version = invoice.version
    return item


def _from_item(item: InvoiceItem) -> Invoice:
    detail: dict[str, Any] = json.loads(item.detail) if item.detail else {}
    lines = [Line(**line) for line in detail.pop("lines", [])]
    return replace(
        listed_invoice(item),
        lines=lines,
        events=_unpack(item.events),
        version=item.version,
        **detail,
    )


class DynamoInvoiceStore:
    def __init__(self, retention_days: int) -> None:
        self._retention_seconds = retention_days * 86400

    def _ttl(self, invoice: Invoice) -> datetime:
        seconds = (
            invoice.retention_days * 86400 if invoice.retention_days else self._retention_seconds
        )
        return parse_iso(invoice.last_activity_at) + timedelta(seconds=seconds)

    def create(self, invoice: Invoice, pdf: bytes | None) -> bool:
        item = _to_item(invoice, self._ttl(invoice))
        if pdf is not None:
            # The PDF first, so an invoice that exists always has its attachment; keyed by
            # the request's body hash, so a conflicting retry of an Idempotency-Key can
            # never overwrite the attachment of the invoice it conflicts with.
            with PdfChunkItem.batch_write() as batch:
                for index in range(0, len(pdf), PDF_CHUNK_BYTES):
                    batch.save(
                        PdfChunkItem(
                            pk=f"PDF#{invoice.id}",
                            sk=f"{invoice.body_hash[:16]}#{index // PDF_CHUNK_BYTES:03d}",
                            data=pdf[index : index + PDF_CHUNK_BYTES],
                            expires_at=self._ttl(invoice),
                        )
                    )
        if not saved(item, InvoiceItem.pk.does_not_exist()):
            return False
        invoice.version = item.version
        return True

    def get(self, invoice_id: str) -> Invoice | None:
        # One query: the invoice item and any parked facts ("INVOICE" < "PARKED#..."),
        # never the archive pages ("EVENTS#..." sorts before both).
        found = self._query(invoice_id, InvoiceItem.sk >= "INVOICE")
        return found[0] if found else None

    def get_with_archive(self, invoice_id: str) -> tuple[Invoice, list[TimelineEvent]] | None:
        # One query reads the invoice item, its archive pages and any parked facts.
        return self._query(invoice_id, None)

    def _query(self, invoice_id: str, condition: Any) -> tuple[Invoice, list[TimelineEvent]] | None:
        invoice: Invoice | None = None
        archived: list[TimelineEvent] = []
        parked: list[dict[str, Any]] = []
        connection = InvoiceItem._get_connection()
        for raw in connection.query(
            f"INVOICE#{invoice_id}", range_key_condition=condition, consistent_read=True
        ).get("Items", []):
            sk = raw["sk"]["S"]
            if sk == "INVOICE":
                invoice = _from_item(InvoiceItem.from_raw_data(raw))
            elif sk.startswith("EVENTS#"):
                archived.extend(_unpack(ArchivePageItem.from_raw_data(raw).events))
            elif sk.startswith("PARKED#"):
                parked.append(json.loads(ParkedFactItem.from_raw_data(raw).fact))
        if invoice is None:
            return None
        invoice.parked = parked
        return invoice, archived

    def park(self, invoice_id: str, fact: dict[str, Any], expires_at: int) -> None:
        ParkedFactItem(
            pk=f"INVOICE#{invoice_id}",
            sk=f"PARKED#{fact['key']}",
            fact=json.dumps(fact, separators=(",", ":")),
            expires_at=expiry(expires_at),
        ).save()

    def save(self, invoice: Invoice, archive: list[TimelineEvent]) -> None:
        expires = self._ttl(invoice)
        if archive:
            # Keyed by the version this write replaces, and never overwritten: of two
            # writers racing from one version, only one writes the page. A page whose
            # writer then loses the invoice write only repeats events still inline,
            # which readers drop by key.
            page = ArchivePageItem(
                pk=f"INVOICE#{invoice.id}",
                sk=f"EVENTS#{invoice.version or 0:010d}",
                events=_pack(archive),
                expires_at=expires,
            )
            save_unchanged(page, invoice.id, ArchivePageItem.sk.does_not_exist())
        item = _to_item(invoice, expires)
        # VersionAttribute adds "version = <read version>" as the condition.
        save_unchanged(item, invoice.id)
        invoice.version = item.version
        if invoice.parked:
            # Folded into the write above. A crash before this delete only leaves facts
            # that the next write finds already recorded (same keys).
            with ParkedFactItem.batch_write() as batch:
                for fact in invoice.parked:
                    batch.delete(
                        ParkedFactItem(pk=f"INVOICE#{invoice.id}", sk=f"PARKED#{fact['key']}")
                    )
            invoice.parked = []

    def list_page(
        self, partitions: list[str], index: str, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        gsi = InvoiceItem.by_status if index == "by_status" else InvoiceItem.by_account
        hash_name = "gsi1pk" if index == "by_status" else "gsi2pk"
        range_name = "gsi1sk" if index == "by_status" else "gsi2sk"
        starts: dict[str, Any] = cursor if cursor is not None else dict.fromkeys(partitions)
        for partition, start in starts.items():
            if start is not None and not is_index_key(start, partition, hash_name, range_name):
                raise InvalidCursor(partition)
        fetched: list[tuple[str, InvoiceItem]] = []
        last_keys: dict[str, Any] = {}
        for partition, start in starts.items():
            result = gsi.query(
                partition, scan_index_forward=False, limit=limit, last_evaluated_key=start
            )
            items = list(result)
            fetched.extend((partition, item) for item in items)
            last_keys[partition] = result.last_evaluated_key
        fetched.sort(key=lambda pair: getattr(pair[1], range_name), reverse=True)
        taken = fetched[:limit]
        next_cursor: dict[str, Any] = {}
        for partition in starts:
            mine = [item for p, item in taken if p == partition]
            left = [item for p, item in fetched[limit:] if p == partition]
            if left:
                # Resume after the last item this partition contributed to the page.
                anchor = mine[-1] if mine else None
                next_cursor[partition] = (
                    index_key(anchor, hash_name, range_name) if anchor else starts[partition]
                )
            elif last_keys[partition]:
                next_cursor[partition] = last_keys[partition]
        return Page([listed_invoice(item) for _, item in taken], next_cursor or None)

    def invoice_ids(self) -> Iterator[str]:
        """Every invoice id, by scanning the table: for operator commands (reclassify),
        never for a request path."""
        for item in InvoiceItem.scan(InvoiceItem.sk == "INVOICE", attributes_to_get=["pk", "sk"]):
            yield item.pk.removeprefix("INVOICE#")

    def get_pdf(self, invoice: Invoice) -> bytes | None:
        chunks = list(
            PdfChunkItem.query(
                f"PDF#{invoice.id}", PdfChunkItem.sk.startswith(f"{invoice.body_hash[:16]}#")
            )
        )
        return b"".join(chunk.data for chunk in chunks) if chunks else None

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None:
        with MessageRefItem.batch_write() as batch:
            for ref in refs:
                batch.save(
                    MessageRefItem(
                        pk=f"MSG#{ref.message_id}",
                        sk="MSG",
                        account_id=ref.account_id,
                        invoice_id=ref.invoice_id,
                        recipient_id=ref.recipient_id,
                        expires_at=expiry(expires_at),
                    )
                )

    def get_message_ref(self, message_id: str) -> MessageRef | None:
        try:
            item = MessageRefItem.get(f"MSG#{message_id}", "MSG")
        except MessageRefItem.DoesNotExist:
            return None
        return MessageRef(message_id, item.account_id, item.invoice_id, item.recipient_id)
