"""What the scheduled jobs and the report routes read and write over DynamoDB
(``ports.ReportStore``): the account directory, invoices by activity and by status (the
two indexes), at-most-once markers, and, from its two parts, the task queue
(tasks.py) and the webhooks (webhooks.py).

Only GetItem, PutItem (conditional), BatchWriteItem and Query: no Scan, no DeleteItem
(old items expire by TTL).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.adapters.dynamo.accounts import ACCOUNTS_PK
from chalicelib.adapters.dynamo.helpers import expiry, is_index_key, listed_invoice, saved
from chalicelib.adapters.dynamo.models import AccountDirectoryItem, InvoiceItem, MarkerItem
from chalicelib.adapters.dynamo.tasks import DynamoTaskQueue
from chalicelib.adapters.dynamo.webhooks import DynamoWebhookStore
from chalicelib.core.model import Account, Invoice, Page
from chalicelib.errors import InvalidCursor


class DynamoReportStore(DynamoTaskQueue, DynamoWebhookStore):
    def account_ids(self) -> Iterator[str]:
        for item in AccountDirectoryItem.query(ACCOUNTS_PK):
            yield item.sk

    def list_account(self, account_id: str) -> None:
        AccountDirectoryItem(pk=ACCOUNTS_PK, sk=account_id).save()

    def activity_page(
        self, account: Account, since: str, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        shards = max(1, account.index_shards)
        shard, key = 0, None
        if cursor is not None:
            given, key = cursor.get("shard"), cursor.get("key")
            if not isinstance(given, int) or not 0 <= given < shards:
                raise InvalidCursor("shard")
            shard = given
            partition = f"{account.id}#{shard}"
            if key is not None and not is_index_key(key, partition, "gsi2pk", "gsi2sk"):
                raise InvalidCursor(partition)
        items: list[Invoice] = []
        while shard < shards and len(items) < limit:
            result = InvoiceItem.by_account.query(
                f"{account.id}#{shard}",
                InvoiceItem.gsi2sk >= since,
                scan_index_forward=False,
                limit=limit - len(items),
                last_evaluated_key=key,
            )
            items.extend(listed_invoice(item) for item in result)
            key = result.last_evaluated_key
            if key is None:
                shard += 1
        return Page(items, {"shard": shard, "key": key} if shard < shards else None)

    def in_status(
        self, account: Account, status: str, after: str | None, before: str | None, limit: int
    ) -> Iterator[Invoice]:
        condition: Condition | None = None
        if after is not None and before is not None:
            condition = InvoiceItem.gsi1sk.between(after, before + "~")
        elif after is not None:
            condition = InvoiceItem.gsi1sk >= after
        elif before is not None:
            condition = InvoiceItem.gsi1sk <= before + "~"
        given = 0
        for shard in range(max(1, account.index_shards)):
            for item in InvoiceItem.by_status.query(
                f"{account.id}#{status}#{shard}", condition, scan_index_forward=False
            ):
                if given >= limit:
                    return
                given += 1
                yield listed_invoice(item)

    def claim(self, key: str, at: str, expires_at: int) -> bool:
        item = MarkerItem(
            pk=key,
            sk="MARKER",
            state="claimed",
            at=at,
            expires_at=expiry(expires_at),
        )
        # A marker left "failed" by an earlier attempt may be claimed again.
        return saved(item, MarkerItem.pk.does_not_exist() | (MarkerItem.state == "failed"))

    def settle(self, key: str, state: str, at: str, expires_at: int, detail: str = "") -> None:
        MarkerItem(
            pk=key,
            sk="MARKER",
            state=state,
            at=at,
            detail=detail[:1000] or None,
            expires_at=expiry(expires_at),
        ).save()

    def marker(self, key: str) -> tuple[str, str | None] | None:
        """(state, detail) of a marker; for operators and tests."""
        try:
            item = MarkerItem.get(key, "MARKER", consistent_read=True)
        except MarkerItem.DoesNotExist:
            return None
        return item.state, item.detail
