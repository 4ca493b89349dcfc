"""DynamoDB adapter: the pynamodb models of Sobre's single table and the stores that
implement ``chalicelib.ports``. The table itself is defined in infra/template.yaml;
tests/integration/test_table_definition.py keeps these models in step with it."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pynamodb.attributes import (
    BinaryAttribute,
    BooleanAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PutError
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.errors import ConcurrentUpdate
from chalicelib.model import Invoice, Line, Recipient, TimelineEvent, parse_iso
from chalicelib.ports import Account, InvalidCursor, MessageRef, Page

PDF_CHUNK_BYTES = 350 * 1024
# What a status-list page returns: everything but the timeline and the long fields.
LIST_ATTRIBUTES = [
    "number",
    "customer_name",
    "currency",
    "total",
    "due_date",
    "status",
    "account_id",
    "created_at",
    "last_activity_at",
    "recipients",
]


class _Meta:
    table_name = "sobre"
    region = "us-east-1"
    billing_mode = "PAY_PER_REQUEST"


def configure(table_name: str, region: str) -> None:
    """Point every model at the stage's table (before first use)."""
    for model in MODELS:
        model.Meta.table_name = table_name
        model.Meta.region = region


class ByStatusIndex(GlobalSecondaryIndex["InvoiceItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_status"
        projection = IncludeProjection(LIST_ATTRIBUTES)

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByAccountIndex(GlobalSecondaryIndex["InvoiceItem"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_account"
        projection = IncludeProjection(LIST_ATTRIBUTES)

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class InvoiceItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # INVOICE
    gsi1pk = UnicodeAttribute()  # <account>#<status>#<shard>
    gsi1sk = UnicodeAttribute()  # last activity time, then id
    gsi2pk = UnicodeAttribute()  # <account>#<shard>
    gsi2sk = UnicodeAttribute()
    by_status = ByStatusIndex()
    by_account = ByAccountIndex()
    account_id = UnicodeAttribute()
    number = UnicodeAttribute()
    customer_name = UnicodeAttribute()
    currency = UnicodeAttribute()
    total = UnicodeAttribute()
    due_date = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    last_activity_at = UnicodeAttribute()
    recipients = UnicodeAttribute()  # JSON list
    detail = UnicodeAttribute()  # JSON: the rest of the invoice
    events = BinaryAttribute(legacy_encoding=False)  # zlib JSON: the inline timeline
    expires_at = TTLAttribute()
    version = VersionAttribute()


class ArchivePageItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # EVENTS#<page>
    events = BinaryAttribute(legacy_encoding=False)
    expires_at = TTLAttribute()


class ParkedFactItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # INVOICE#<id>
    sk = UnicodeAttribute(range_key=True)  # PARKED#<fact key>
    fact = UnicodeAttribute()  # JSON of status.Fact
    expires_at = TTLAttribute()


class PdfChunkItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # PDF#<invoice id>
    sk = UnicodeAttribute(range_key=True)  # <chunk:03d>
    data = BinaryAttribute(legacy_encoding=False)
    expires_at = TTLAttribute()


class MessageRefItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # MSG#<SES message id>
    sk = UnicodeAttribute(range_key=True)  # MSG
    account_id = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    recipient_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class AccountItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ACCOUNT#<id>
    sk = UnicodeAttribute(range_key=True)  # ACCOUNT
    data = UnicodeAttribute()  # JSON


class ApiKeyItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # APIKEY#<sha256>
    sk = UnicodeAttribute(range_key=True)  # APIKEY
    account_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    revoked = BooleanAttribute(default=False)


class UnprocessedItem(Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # UNPROCESSED#<yyyy-mm-dd>
    sk = UnicodeAttribute(range_key=True)  # <received at>#<uuid>
    reason = UnicodeAttribute()
    payload = UnicodeAttribute()
    expires_at = TTLAttribute()


# Every model of the single table (configure() and the table-definition test use it).
MODELS: tuple[type[Model], ...] = (
    InvoiceItem,
    ArchivePageItem,
    ParkedFactItem,
    PdfChunkItem,
    MessageRefItem,
    AccountItem,
    ApiKeyItem,
    UnprocessedItem,
)


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
    return Invoice(
        id=item.pk.removeprefix("INVOICE#"),
        account_id=item.account_id,
        number=item.number,
        customer_name=item.customer_name,
        currency=item.currency,
        total=item.total,
        due_date=item.due_date,
        status=item.status,  # type: ignore[arg-type]
        created_at=item.created_at,
        last_activity_at=item.last_activity_at,
        recipients=[Recipient.from_dict(r) for r in json.loads(item.recipients)],
        lines=lines,
        events=_unpack(item.events),
        version=item.version,
        **detail,
    )


class DynamoInvoiceStore:
    def __init__(self, retention_days: int) -> None:
        self._retention_seconds = retention_days * 86400

    def _expiry(self, invoice: Invoice) -> datetime:
        from datetime import timedelta

        seconds = (
            invoice.retention_days * 86400 if invoice.retention_days else self._retention_seconds
        )
        return parse_iso(invoice.last_activity_at) + timedelta(seconds=seconds)

    def create(self, invoice: Invoice, pdf: bytes | None) -> bool:
        item = _to_item(invoice, self._expiry(invoice))
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
                            expires_at=self._expiry(invoice),
                        )
                    )
        try:
            item.save(condition=InvoiceItem.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
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
            expires_at=datetime.fromtimestamp(expires_at).astimezone(),
        ).save()

    def save(self, invoice: Invoice, archive: list[TimelineEvent]) -> None:
        expiry = self._expiry(invoice)
        if archive:
            # Keyed by the version this write replaces, and never overwritten: of two
            # writers racing from one version, only one writes the page. A page whose
            # writer then loses the invoice write only repeats events still inline,
            # which readers drop by key.
            page = ArchivePageItem(
                pk=f"INVOICE#{invoice.id}",
                sk=f"EVENTS#{invoice.version or 0:010d}",
                events=_pack(archive),
                expires_at=expiry,
            )
            try:
                page.save(condition=ArchivePageItem.sk.does_not_exist())
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    raise ConcurrentUpdate(invoice.id) from exc
                raise
        item = _to_item(invoice, expiry)
        try:
            item.save()  # VersionAttribute adds "version = <read version>" as condition
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(invoice.id) from exc
            raise
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
            if start is not None and not _is_index_key(start, partition, hash_name, range_name):
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
                    _index_key(anchor, hash_name, range_name) if anchor else starts[partition]
                )
            elif last_keys[partition]:
                next_cursor[partition] = last_keys[partition]
        return Page([_from_list_item(item) for _, item in taken], next_cursor or None)

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
                        expires_at=datetime.fromtimestamp(expires_at).astimezone(),
                    )
                )

    def get_message_ref(self, message_id: str) -> MessageRef | None:
        try:
            item = MessageRefItem.get(f"MSG#{message_id}", "MSG")
        except MessageRefItem.DoesNotExist:
            return None
        return MessageRef(message_id, item.account_id, item.invoice_id, item.recipient_id)


def _is_index_key(key: Any, partition: str, hash_name: str, range_name: str) -> bool:
    names = {"pk", "sk", hash_name, range_name}
    return (
        isinstance(key, dict)
        and set(key) == names
        and all(
            isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str)
            for v in key.values()
        )
        and key[hash_name]["S"] == partition
    )


def _index_key(item: InvoiceItem, hash_name: str, range_name: str) -> dict[str, Any]:
    return {
        "pk": {"S": item.pk},
        "sk": {"S": item.sk},
        hash_name: {"S": getattr(item, hash_name)},
        range_name: {"S": getattr(item, range_name)},
    }


def _from_list_item(item: InvoiceItem) -> Invoice:
    """An invoice as the index projects it: no timeline, no long fields."""
    return Invoice(
        id=item.pk.removeprefix("INVOICE#"),
        account_id=item.account_id,
        number=item.number,
        customer_name=item.customer_name,
        currency=item.currency,
        total=item.total,
        due_date=item.due_date,
        status=item.status,  # type: ignore[arg-type]
        created_at=item.created_at,
        last_activity_at=item.last_activity_at,
        recipients=[Recipient.from_dict(r) for r in json.loads(item.recipients)],
    )


class DynamoAccountStore:
    def get_account(self, account_id: str) -> Account | None:
        try:
            item = AccountItem.get(f"ACCOUNT#{account_id}", "ACCOUNT")
        except AccountItem.DoesNotExist:
            return None
        return Account(**json.loads(item.data))

    def put_account(self, account: Account) -> None:
        AccountItem(
            pk=f"ACCOUNT#{account.id}", sk="ACCOUNT", data=json.dumps(asdict(account))
        ).save()
        # Reports: the scheduled jobs enumerate accounts from a directory, never a Scan.
        from chalicelib.dynamo_reports import list_account  # lazy: not on request paths

        list_account(account.id)

    def account_id_for_key(self, key_hash: str) -> str | None:
        try:
            item = ApiKeyItem.get(f"APIKEY#{key_hash}", "APIKEY")
        except ApiKeyItem.DoesNotExist:
            return None
        return None if item.revoked else item.account_id

    def put_key(self, key_hash: str, account_id: str, created_at: str) -> None:
        ApiKeyItem(
            pk=f"APIKEY#{key_hash}", sk="APIKEY", account_id=account_id, created_at=created_at
        ).save(condition=ApiKeyItem.pk.does_not_exist())


class DynamoUnprocessedStore:
    def __init__(self, retention_days: int) -> None:
        self._retention_days = retention_days

    def keep(self, received_at: str, reason: str, payload: str) -> str:
        from datetime import timedelta

        day = received_at[:10]
        item_id = f"{day}/{received_at}#{uuid.uuid4().hex[:12]}"
        UnprocessedItem(
            pk=f"UNPROCESSED#{day}",
            sk=item_id.split("/", 1)[1],
            reason=reason[:1000],
            payload=payload[:350_000],
            expires_at=parse_iso(received_at) + timedelta(days=self._retention_days),
        ).save()
        return item_id

    def list_unprocessed(self, limit: int, days: int = 14) -> list[dict[str, Any]]:
        from datetime import UTC, timedelta

        found: list[dict[str, Any]] = []
        today = datetime.now(UTC).date()
        for back in range(days):
            day = (today - timedelta(days=back)).isoformat()
            for item in UnprocessedItem.query(f"UNPROCESSED#{day}", scan_index_forward=False):
                found.append(
                    {"id": f"{day}/{item.sk}", "reason": item.reason, "payload": item.payload}
                )
                if len(found) >= limit:
                    return found
        return found

    def delete_unprocessed(self, item_id: str) -> None:
        day, sk = item_id.split("/", 1)
        UnprocessedItem(pk=f"UNPROCESSED#{day}", sk=sk).delete()
