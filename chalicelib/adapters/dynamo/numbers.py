"""Invoices found by their own number: ``NUMBER#<account>#<shard>`` / ``<number,
case-folded>#<invoice id>``, one small item per invoice written before its summary
(a reference to an invoice that was never created is dropped on read). An exact number
or a prefix is a Query per shard (``begins_with``), then one BatchGetItem of the
summaries found: no Scan, and a number's reference is never rewritten."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.dynamo import (
    models,  # lazy: see __init__.py
    table,
)
from chalicelib.adapters.dynamo.helpers import fact_key, table_client
from chalicelib.adapters.dynamo.items import SUMMARY, from_summary
from chalicelib.core.model import Invoice


def number_key(number: str) -> str:
    return number.casefold()


def number_item(invoice: Invoice, expires_at: datetime) -> models.NumberRefItem:
    """The number's reference (its key holds the id: a replay rewrites the same)."""
    return models.NumberRefItem(
        pk=f"NUMBER#{invoice.account_id}#{invoice.shard}",
        sk=f"{number_key(invoice.number)}#{invoice.id}",
        number=invoice.number,
        invoice_id=invoice.id,
        expires_at=expires_at,
    )


def find_numbers(
    account_id: str, shards: int, number: str, prefix: bool, limit: int
) -> list[Invoice]:
    """The account's invoices whose number is ``number`` (case-insensitive), or starts
    with it when ``prefix``; in number order, at most ``limit``."""
    wanted = number_key(number)
    client = table_client()
    found: list[tuple[str, str]] = []
    for shard in range(max(1, shards)):
        answer = client.query(
            TableName=table.name(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :start)",
            ExpressionAttributeValues={
                ":pk": {"S": f"NUMBER#{account_id}#{shard}"},
                ":start": {"S": wanted if prefix else f"{wanted}#"},
            },
            Limit=limit if prefix else 100,
        )
        for raw in answer.get("Items", []):
            if prefix or number_key(raw["number"]["S"]) == wanted:
                found.append((raw["sk"]["S"], raw["invoice_id"]["S"]))
    found.sort()
    ids = [invoice_id for _, invoice_id in found[:limit]]
    summaries = {i.id: i for i in _summaries(ids) if i.account_id == account_id}
    return [summaries[i] for i in ids if i in summaries]


def _summaries(ids: list[str]) -> list[Invoice]:
    if not ids:
        return []
    name = table.name()
    request: dict[str, Any] = {name: {"Keys": [fact_key(i, SUMMARY) for i in ids]}}
    found: list[Invoice] = []
    while request:
        answer = table_client().batch_get_item(RequestItems=request)
        for raw in answer.get("Responses", {}).get(name, []):
            found.append(from_summary(raw))
        request = answer.get("UnprocessedKeys") or {}
    return found
