"""What the scheduled jobs and the report routes read and write over DynamoDB
(``ports.ReportStore``): the account directory, invoices by change time and by status
(the index), at-most-once markers, and, from its two parts, the task queue
(tasks.py) and the webhooks (webhooks.py).

Only GetItem, PutItem (conditional), BatchWriteItem and Query: no Scan, no DeleteItem
(old items expire by TTL).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.adapters.dynamo import models  # lazy: see __init__.py
from chalicelib.adapters.dynamo.accounts import ACCOUNTS_PK
from chalicelib.adapters.dynamo.helpers import expiry, saved
from chalicelib.adapters.dynamo.listing import list_index
from chalicelib.adapters.dynamo.tasks import DynamoTaskQueue
from chalicelib.adapters.dynamo.webhooks import DynamoWebhookStore
from chalicelib.core.model import Account, Invoice, Page, partitions_of


class DynamoReportStore(DynamoTaskQueue, DynamoWebhookStore):
    def account_ids(self) -> Iterator[str]:
        for item in models.AccountDirectoryItem.query(ACCOUNTS_PK):
            yield item.sk

    def list_account(self, account_id: str) -> None:
        models.AccountDirectoryItem(pk=ACCOUNTS_PK, sk=account_id).save()

    def changed_page(
        self, account: Account, since: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        partitions = partitions_of(account.id, account.index_shards)
        return list_index(partitions, limit, cursor, after=since)

    def in_status(
        self, account: Account, status: str, after: str | None, before: str | None, limit: int
    ) -> Iterator[Invoice]:
        # Unpaid only: paid and void invoices are neither unopened nor reminded.
        partitions = partitions_of(account.id, account.index_shards, status, "unpaid")
        given, cursor = 0, None
        while given < limit:
            page = list_index(partitions, min(100, limit - given), cursor, status, after, before)
            yield from page.items
            given += len(page.items)
            if page.cursor is None:
                return
            cursor = page.cursor

    def claim(self, key: str, at: str, expires_at: int, stale_before: str | None = None) -> bool:
        item = models.MarkerItem(
            pk=key,
            sk="MARKER",
            state="claimed",
            at=at,
            expires_at=expiry(expires_at),
        )
        # A marker left "failed" by an earlier attempt may be claimed again, and so may
        # one claimed before ``stale_before`` and never settled (its holder stopped).
        free = models.MarkerItem.pk.does_not_exist() | (models.MarkerItem.state == "failed")
        if stale_before is not None:
            free = free | (
                (models.MarkerItem.state == "claimed") & (models.MarkerItem.at < stale_before)
            )
        return saved(item, free)

    def settle(self, key: str, state: str, at: str, expires_at: int, detail: str = "") -> None:
        models.MarkerItem(
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
            item = models.MarkerItem.get(key, "MARKER", consistent_read=True)
        except models.MarkerItem.DoesNotExist:
            return None
        return item.state, item.detail
