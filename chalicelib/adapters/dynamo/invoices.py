"""The invoice store over DynamoDB (``ports.InvoiceStore``). Under ``INVOICE#<id>``:

* ``INVOICE``: the summary (fields, recipients' state; the only item in the index),
* ``INVOICE#CONTENT``: lines, subject, message, metadata (written once),
* ``INVOICE#R#<recipient>``: the recipient's counters (ADD, conditional SET),
* ``F#<at>#<key>``: one item per fact; the conditional put on its key is the dedup,
* ``SEND#<recipient>#<attempt>``: a send attempt's claim (taken before SendEmail) and
  its outcome; outside both the detail's and the facts' key ranges, so neither reads it.

The summary, content and counters sort together (``begins_with INVOICE``), so the
detail is one small Query that never reads a fact. SES message references keep their
own ``MSG#`` items. PDFs are in S3 (adapters/s3.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamo import (
    counters,
    creating,
    models,  # lazy: see __init__.py
    table,
)
from chalicelib.adapters.dynamo.helpers import (
    conditional,
    expiry,
    fact_key,
    invoice_pk,
    put_versioned,
    send_sk,
    table_client,
)
from chalicelib.adapters.dynamo.items import (
    _CONTENT_FIELDS,
    CONTENT,
    COUNTERS,
    FACT,
    SUMMARY,
    _event,
    _fact_sk,
    _merge_counters,
    decode_fact_cursor,
    encode_fact_cursor,
    fact_item,
    from_summary,
    summary_attributes,
)
from chalicelib.adapters.dynamo.listing import list_index
from chalicelib.adapters.dynamo.numbers import find_numbers
from chalicelib.core.model import (
    CountChange,
    EventPage,
    Invoice,
    Line,
    MessageRef,
    Page,
    TimelineEvent,
    parse_iso,
)
from chalicelib.core.sends import SendClaim, SendOutcome
from chalicelib.core.status import Counts, KeptFact, Tally
from chalicelib.core.stored import stored_json
from chalicelib.errors import ConcurrentUpdate


class DynamoInvoiceStore:
    def __init__(self, retention_days: int) -> None:
        self._retention_days = retention_days

    def _ttl(self, invoice: Invoice) -> datetime:
        """Everything of an invoice expires together, counted from its creation, so
        the TTL never moves and no write has to carry a new one."""
        days = invoice.retention_days or self._retention_days
        return parse_iso(invoice.created_at) + timedelta(days=days)

    def connect(self) -> None:
        table_client()  # pynamodb's connection and its botocore client; no request

    # -- the summary and the content ---------------------------------------------------

    def create(self, invoice: Invoice) -> bool:
        return creating.create_all([invoice], self._ttl)[0]

    def create_many(self, invoices: Sequence[Invoice]) -> list[bool]:
        return creating.create_all(invoices, self._ttl)

    def get(self, invoice_id: str) -> Invoice | None:
        invoice: Invoice | None = None
        content: dict[str, Any] = {}
        counters: list[dict[str, Any]] = []
        for raw in self._query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": invoice_pk(invoice_id), ":prefix": {"S": SUMMARY}},
            ConsistentRead=True,
        ):
            sk = raw["sk"]["S"]
            if sk == SUMMARY:
                invoice = from_summary(raw)
            elif sk == CONTENT:
                content = json.loads(raw["data"]["S"])
            elif sk.startswith(COUNTERS):
                counters.append(raw)
        if invoice is None:
            return None
        invoice.lines = [Line(**line) for line in content.pop("lines", [])]
        for name in _CONTENT_FIELDS:
            if name in content:
                setattr(invoice, name, content[name])
        for raw in counters:
            _merge_counters(invoice, raw)
        return invoice

    def _query_all(self, **request: Any) -> Iterator[dict[str, Any]]:
        client = table_client()
        while True:
            answer = client.query(TableName=table.name(), **request)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def get_summary(self, invoice_id: str, recipient_id: str | None = None) -> Invoice | None:
        keys = [fact_key(invoice_id, SUMMARY)]
        if recipient_id is not None:
            keys.append(fact_key(invoice_id, f"{COUNTERS}{recipient_id}"))
        name = table.name()
        request: dict[str, Any] = {name: {"Keys": keys, "ConsistentRead": True}}
        found: list[dict[str, Any]] = []
        while request:
            answer = table_client().batch_get_item(RequestItems=request)
            found.extend(answer.get("Responses", {}).get(name, []))
            request = answer.get("UnprocessedKeys") or {}
        summary = next((raw for raw in found if raw["sk"]["S"] == SUMMARY), None)
        if summary is None:
            return None
        invoice = from_summary(summary)
        for raw in found:
            if raw["sk"]["S"].startswith(COUNTERS):
                _merge_counters(invoice, raw)
        return invoice

    def save_summary(self, invoice: Invoice) -> None:
        item = summary_attributes(invoice, self._ttl(invoice))
        version = put_versioned(item, invoice.version)  # "version = <the version read>"
        if version is None:
            raise ConcurrentUpdate(invoice.id)
        invoice.version = version

    # -- facts -------------------------------------------------------------------------

    def add_fact(self, invoice_id: str, event: TimelineEvent, expires_at: int) -> bool:
        item = fact_item(invoice_id, event, expires_at)
        return conditional("put_item", Item=item, ConditionExpression="attribute_not_exists(pk)")

    def kept_fact(self, invoice_id: str, event: TimelineEvent) -> KeptFact | None:
        raw = (
            table_client()
            .get_item(
                TableName=table.name(),
                Key=fact_key(invoice_id, _fact_sk(event)),
                ConsistentRead=True,
            )
            .get("Item")
        )
        if raw is None:
            return None
        kept = _event(raw)
        counted = raw.get("counted", {}).get("S")
        return KeptFact(kept, Counts.parse(counted) if counted else Counts.of(kept))

    def facts_between(
        self, invoice_id: str, start: str, end: str, limit: int
    ) -> list[TimelineEvent]:
        answer = table_client().query(
            TableName=table.name(),
            KeyConditionExpression="pk = :pk AND sk BETWEEN :start AND :end",
            ExpressionAttributeValues={
                ":pk": invoice_pk(invoice_id),
                ":start": {"S": f"{FACT}{start}"},
                ":end": {"S": f"{FACT}{end}#\uffff"},
            },
            ConsistentRead=True,
            Limit=limit,
        )
        return [_event(raw) for raw in answer.get("Items", [])]

    def facts_page(
        self,
        invoice_id: str,
        limit: int,
        cursor: str | None,
        newest_first: bool = True,
        start: str = "",
        end: str = "\uffff",
    ) -> EventPage:
        request: dict[str, Any] = {
            "TableName": table.name(),
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "ExpressionAttributeValues": {
                ":pk": invoice_pk(invoice_id),
                ":start": {"S": f"{FACT}{start}"},
                ":end": {"S": f"{FACT}{end}"},
            },
            "ScanIndexForward": not newest_first,
            "Limit": limit,
        }
        if cursor is not None:
            request["ExclusiveStartKey"] = fact_key(invoice_id, decode_fact_cursor(cursor))
        answer = table_client().query(**request)
        last = answer.get("LastEvaluatedKey")
        return EventPage(
            [_event(raw) for raw in answer.get("Items", [])],
            encode_fact_cursor(last["sk"]["S"]) if last else None,
        )

    def fact_cursor(self, invoice_id: str, event: TimelineEvent) -> str:
        return encode_fact_cursor(_fact_sk(event))

    def set_verdict(self, invoice_id: str, event: TimelineEvent) -> bool:
        return conditional(
            "update_item",
            Key=fact_key(invoice_id, _fact_sk(event)),
            UpdateExpression="SET details = :d, rev = :r",
            ConditionExpression="attribute_exists(pk) AND "
            "(rev = :before OR (attribute_not_exists(rev) AND :before = :zero))",
            ExpressionAttributeValues={
                ":d": {"S": stored_json(event.details)},
                ":r": {"N": str(event.revision)},
                ":before": {"N": str(event.revision - 1)},
                ":zero": {"N": "0"},
            },
        )

    # -- counters ----------------------------------------------------------------------

    def count(self, invoice_id: str, change: CountChange, expires_at: int) -> bool:
        return counters.count(invoice_id, change, expires_at)

    def replace_counters(
        self, invoice_id: str, recipient_id: str, tally: Tally, expires_at: int
    ) -> None:
        counters.replace(invoice_id, recipient_id, tally, expires_at)

    def move_last_open(self, invoice_id: str, recipient_id: str, old: str, new: str | None) -> bool:
        return counters.move_last_open(invoice_id, recipient_id, old, new)

    # -- lists -------------------------------------------------------------------------

    def list_page(
        self,
        partitions: list[str],
        limit: int,
        cursor: dict[str, Any] | None,
        status: str | None = None,
        payment: str | None = None,
    ) -> Page:
        return list_index(partitions, limit, cursor, status, payment=payment)

    def find_by_number(
        self, account_id: str, shards: int, number: str, prefix: bool, limit: int
    ) -> list[Invoice]:
        return find_numbers(account_id, shards, number, prefix, limit)

    def invoice_ids(self) -> Iterator[str]:
        """Every invoice id, by scanning the table: for operator commands (reclassify),
        never for a request path."""
        for item in models.InvoiceItem.scan(
            models.InvoiceItem.sk == SUMMARY, attributes_to_get=["pk", "sk"]
        ):
            yield item.pk.removeprefix("INVOICE#")

    # -- send claims -------------------------------------------------------------------

    def claim_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        at: str,
        expires_at: int,
        reminder: bool = False,
    ) -> SendClaim:
        key = fact_key(invoice_id, send_sk(recipient_id, attempt, reminder))
        item = {**key, "claimed_at": {"S": at}, "expires_at": {"N": str(expires_at)}}
        # A claim given back (release_send: SES throttled, nothing went out) is taken again.
        free = "attribute_not_exists(pk) OR attribute_exists(released)"
        if conditional("put_item", Item=item, ConditionExpression=free):
            return SendClaim(recipient_id, attempt, at, won=True, reminder=reminder)
        answer = table_client().get_item(TableName=table.name(), Key=key, ConsistentRead=True)
        kept = answer.get("Item", {})
        outcome = None
        if "outcome" in kept:
            outcome = SendOutcome(**json.loads(kept["outcome"]["S"]))
        claimed_at = kept.get("claimed_at", {}).get("S", at)
        return SendClaim(
            recipient_id, attempt, claimed_at, won=False, outcome=outcome, reminder=reminder
        )

    def settle_send(
        self,
        invoice_id: str,
        recipient_id: str,
        attempt: int,
        outcome: SendOutcome,
        reminder: bool = False,
        unsettled_only: bool = False,
    ) -> bool:
        condition = (
            {"ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(outcome)"}
            if unsettled_only
            else {}
        )
        return conditional(
            "update_item",
            Key=fact_key(invoice_id, send_sk(recipient_id, attempt, reminder)),
            UpdateExpression="SET outcome = :o",
            ExpressionAttributeValues={":o": {"S": stored_json(asdict(outcome))}},
            **condition,
        )

    def release_send(
        self, invoice_id: str, recipient_id: str, attempt: int, reminder: bool = False
    ) -> None:
        conditional(
            "update_item",
            Key=fact_key(invoice_id, send_sk(recipient_id, attempt, reminder)),
            UpdateExpression="SET released = :t",
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(outcome)",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def unsettled_sends(self) -> Iterator[tuple[str, SendClaim]]:
        request: dict[str, Any] = {
            "TableName": table.name(),
            "FilterExpression": "begins_with(sk, :send) AND attribute_not_exists(outcome) "
            "AND attribute_not_exists(released)",
            "ExpressionAttributeValues": {":send": {"S": "SEND#"}},
            "ProjectionExpression": "pk, sk, claimed_at",
        }
        while True:
            page = table_client().scan(**request)
            for item in page.get("Items", []):
                yield _unsettled(item)
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_message_refs(self, refs: list[MessageRef], expires_at: int) -> None:
        with models.MessageRefItem.batch_write() as batch:
            for ref in refs:
                batch.save(
                    models.MessageRefItem(
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
            item = models.MessageRefItem.get(f"MSG#{message_id}", "MSG")
        except models.MessageRefItem.DoesNotExist:
            return None
        return MessageRef(message_id, item.account_id, item.invoice_id, item.recipient_id)


def _unsettled(item: dict[str, Any]) -> tuple[str, SendClaim]:
    _, recipient_id, attempt = item["sk"]["S"].split("#", 2)
    claim = SendClaim(
        recipient_id,
        int(attempt.removeprefix("R")),
        item.get("claimed_at", {}).get("S", ""),
        won=False,
        reminder=attempt.startswith("R"),
    )
    return item["pk"]["S"].removeprefix("INVOICE#"), claim
