"""DynamoDB adapter for reports, reminders and alerts: the items they add to Sobre's one
table (docs/DESIGN.md, "Reports, reminders and alerts") and ``DynamoReportStore``,
which implements ``ports.ReportStore`` (and ``ports.AlertOutbox``).

Every model here uses the table's primary key (pk, sk) and no index of its own; they
share the invoice model's connection, so they follow ``dynamo.configure`` (table name,
region) and the endpoint the environment names. Only GetItem, PutItem (conditional),
BatchWriteItem and Query: no Scan, no DeleteItem (old items expire by TTL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.connection.table import TableConnection
from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib import dynamo
from chalicelib.alerts import Alert, Delivery, Task, Webhook, alert_task
from chalicelib.errors import ConcurrentUpdate
from chalicelib.model import Invoice, iso, parse_iso
from chalicelib.ports import Account, InvalidCursor, Lease, Page

# Queue items are read within days; deliveries stay listable for a month.
TASK_TTL = timedelta(days=8)
DELIVERY_TTL = timedelta(days=30)
QUEUE_CATCH_UP = timedelta(days=7)  # a queue cursor older than this restarts here
ACCOUNTS_PK = "ACCOUNTS"


class _SameTable:
    """Use the invoice model's connection: one table, one client."""

    @classmethod
    def _get_connection(cls) -> TableConnection:
        return dynamo.InvoiceItem._get_connection()


class _Meta:
    table_name = "sobre"
    region = "us-east-1"


class AccountDirectoryItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # ACCOUNTS
    sk = UnicodeAttribute(range_key=True)  # <account id>


class MarkerItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # DIGEST#<account>#<date>, REMINDER#..., ALERT#...
    sk = UnicodeAttribute(range_key=True)  # MARKER
    state = UnicodeAttribute()  # claimed, sent, quiet, skipped, failed
    at = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class TaskItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # DUE#<yyyy-mm-ddThh of due time>
    sk = UnicodeAttribute(range_key=True)  # <due time>#<task id>
    kind = UnicodeAttribute()
    data = UnicodeAttribute()  # JSON
    expires_at = TTLAttribute()


class QueueCursorItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # DUE
    sk = UnicodeAttribute(range_key=True)  # CURSOR
    position = UnicodeAttribute(null=True)  # sort key of the last task done
    lease_until = UnicodeAttribute(null=True)
    version = VersionAttribute()


class WebhookItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # WEBHOOKS#<account>
    sk = UnicodeAttribute(range_key=True)  # <webhook id>
    data = UnicodeAttribute()  # JSON (the signing secret included: needed to sign)
    version = VersionAttribute()


class DeliveryItem(_SameTable, Model):
    class Meta(_Meta):
        pass

    pk = UnicodeAttribute(hash_key=True)  # WEBHOOK#<webhook id>
    sk = UnicodeAttribute(range_key=True)  # D#<event time>#<event id>
    data = UnicodeAttribute()  # JSON
    version = VersionAttribute()
    expires_at = TTLAttribute()


MODELS: tuple[type[Model], ...] = (
    AccountDirectoryItem,
    MarkerItem,
    TaskItem,
    QueueCursorItem,
    WebhookItem,
    DeliveryItem,
)


def _conditional_failed(exc: PutError) -> bool:
    return exc.cause_response_code == "ConditionalCheckFailedException"


def _bucket(at: str) -> str:
    return f"DUE#{at[:13]}"


def _hours(start: str, end: str) -> Iterator[str]:
    hour = parse_iso(start[:13] + ":00:00.000Z")
    last = parse_iso(end[:13] + ":00:00.000Z")
    while hour <= last:
        yield _bucket(iso(hour))
        hour += timedelta(hours=1)


def _webhook_from(item: WebhookItem) -> Webhook:
    data = json.loads(item.data)
    return Webhook(**data, version=item.version)


def _delivery_from(item: DeliveryItem) -> Delivery:
    data = json.loads(item.data)
    return Delivery(**data, version=item.version)


def _without_version(value: Webhook | Delivery) -> str:
    data = asdict(value)
    data.pop("version")
    return json.dumps(data, separators=(",", ":"))


def list_account(account_id: str) -> None:
    """Add an account to the directory the scheduled jobs read (on every account write)."""
    DynamoReportStore().list_account(account_id)


class DynamoReportStore:
    # -- accounts --------------------------------------------------------------------

    def account_ids(self) -> Iterator[str]:
        for item in AccountDirectoryItem.query(ACCOUNTS_PK):
            yield item.sk

    def list_account(self, account_id: str) -> None:
        AccountDirectoryItem(pk=ACCOUNTS_PK, sk=account_id).save()

    # -- invoices by activity and status -----------------------------------------------

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
            if key is not None and not dynamo._is_index_key(key, partition, "gsi2pk", "gsi2sk"):
                raise InvalidCursor(partition)
        items: list[Invoice] = []
        while shard < shards and len(items) < limit:
            result = dynamo.InvoiceItem.by_account.query(
                f"{account.id}#{shard}",
                dynamo.InvoiceItem.gsi2sk >= since,
                scan_index_forward=False,
                limit=limit - len(items),
                last_evaluated_key=key,
            )
            items.extend(dynamo._from_list_item(item) for item in result)
            key = result.last_evaluated_key
            if key is None:
                shard += 1
        return Page(items, {"shard": shard, "key": key} if shard < shards else None)

    def in_status(
        self, account: Account, status: str, after: str | None, before: str | None, limit: int
    ) -> Iterator[Invoice]:
        condition: Condition | None = None
        if after is not None and before is not None:
            condition = dynamo.InvoiceItem.gsi1sk.between(after, before + "~")
        elif after is not None:
            condition = dynamo.InvoiceItem.gsi1sk >= after
        elif before is not None:
            condition = dynamo.InvoiceItem.gsi1sk <= before + "~"
        given = 0
        for shard in range(max(1, account.index_shards)):
            for item in dynamo.InvoiceItem.by_status.query(
                f"{account.id}#{status}#{shard}", condition, scan_index_forward=False
            ):
                if given >= limit:
                    return
                given += 1
                yield dynamo._from_list_item(item)

    # -- markers -------------------------------------------------------------------------

    def claim(self, key: str, at: str, expires_at: int) -> bool:
        item = MarkerItem(
            pk=key,
            sk="MARKER",
            state="claimed",
            at=at,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        )
        try:
            item.save(condition=MarkerItem.pk.does_not_exist() | (MarkerItem.state == "failed"))
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def settle(self, key: str, state: str, at: str, expires_at: int, detail: str = "") -> None:
        MarkerItem(
            pk=key,
            sk="MARKER",
            state=state,
            at=at,
            detail=detail[:1000] or None,
            expires_at=datetime.fromtimestamp(expires_at, UTC),
        ).save()

    def marker(self, key: str) -> tuple[str, str | None] | None:
        """(state, detail) of a marker; for operators and tests."""
        try:
            item = MarkerItem.get(key, "MARKER", consistent_read=True)
        except MarkerItem.DoesNotExist:
            return None
        return item.state, item.detail

    # -- the task queue ------------------------------------------------------------------

    def _task_item(self, task: Task) -> TaskItem:
        return TaskItem(
            pk=_bucket(task.due_at),
            sk=task.position,
            kind=task.kind,
            data=json.dumps(task.data, separators=(",", ":")),
            expires_at=parse_iso(task.due_at) + TASK_TTL,
        )

    def schedule(self, tasks: list[Task]) -> None:
        if len(tasks) == 1:
            self._task_item(tasks[0]).save()
            return
        with TaskItem.batch_write() as batch:
            for task in tasks:
                batch.save(self._task_item(task))

    def record(self, alerts: list[Alert], recorded_at: datetime) -> None:
        if alerts:
            self.schedule([alert_task(alert, recorded_at) for alert in alerts])

    def lease(self, now: datetime, seconds: int) -> Lease | None:
        try:
            item = QueueCursorItem.get("DUE", "CURSOR", consistent_read=True)
        except QueueCursorItem.DoesNotExist:
            item = QueueCursorItem(pk="DUE", sk="CURSOR")
        if item.lease_until and item.lease_until > iso(now):
            return None
        item.lease_until = iso(now + timedelta(seconds=seconds))
        try:
            item.save()  # conditional on the version read
        except PutError as exc:
            if _conditional_failed(exc):
                return None
            raise
        return Lease(item.position, item.version, item.lease_until)

    def release(self, lease: Lease, position: str | None) -> None:
        item = QueueCursorItem(pk="DUE", sk="CURSOR", position=position, lease_until=None)
        if lease.version is not None:
            item.version = lease.version
        try:
            item.save()
        except PutError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate("task queue cursor") from exc
            raise

    def due(self, after: str, until: str) -> Iterator[Task]:
        """Tasks with ``after`` < position <= ``until``, oldest first, hour by hour."""
        floor = iso(parse_iso(until) - QUEUE_CATCH_UP)
        after = max(after, floor)
        for bucket in _hours(after, until):
            condition = TaskItem.sk.between(after, until + "#~")
            for item in TaskItem.query(bucket, condition):
                if item.sk <= after:
                    continue
                due_at, _, task_id = item.sk.partition("#")
                yield Task(due_at, task_id, item.kind, json.loads(item.data))

    # -- webhooks ------------------------------------------------------------------------

    def put_webhook(self, webhook: Webhook) -> None:
        item = WebhookItem(
            pk=f"WEBHOOKS#{webhook.account_id}", sk=webhook.id, data=_without_version(webhook)
        )
        if webhook.version is not None:
            item.version = webhook.version
        try:
            item.save()
        except PutError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(webhook.id) from exc
            raise
        webhook.version = item.version

    def get_webhook(self, account_id: str, webhook_id: str) -> Webhook | None:
        try:
            item = WebhookItem.get(f"WEBHOOKS#{account_id}", webhook_id, consistent_read=True)
        except WebhookItem.DoesNotExist:
            return None
        return _webhook_from(item)

    def list_webhooks(self, account_id: str) -> list[Webhook]:
        return [
            _webhook_from(item)
            for item in WebhookItem.query(f"WEBHOOKS#{account_id}", consistent_read=True)
        ]

    # -- deliveries ----------------------------------------------------------------------

    def _delivery_item(self, delivery: Delivery) -> DeliveryItem:
        item = DeliveryItem(
            pk=f"WEBHOOK#{delivery.webhook_id}",
            sk=delivery.key,
            data=_without_version(delivery),
            expires_at=parse_iso(delivery.created_at) + DELIVERY_TTL,
        )
        if delivery.version is not None:
            item.version = delivery.version
        return item

    def add_delivery(self, delivery: Delivery) -> bool:
        item = self._delivery_item(delivery)
        try:
            item.save(condition=DeliveryItem.sk.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        delivery.version = item.version
        return True

    def get_delivery(self, webhook_id: str, key: str) -> Delivery | None:
        try:
            item = DeliveryItem.get(f"WEBHOOK#{webhook_id}", key, consistent_read=True)
        except DeliveryItem.DoesNotExist:
            return None
        return _delivery_from(item)

    def save_delivery(self, delivery: Delivery) -> None:
        item = self._delivery_item(delivery)
        try:
            item.save()
        except PutError as exc:
            if _conditional_failed(exc):
                raise ConcurrentUpdate(delivery.event_id) from exc
            raise
        delivery.version = item.version

    def deliveries(
        self, webhook_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Delivery], dict[str, Any] | None]:
        partition = f"WEBHOOK#{webhook_id}"
        if cursor is not None and not (
            set(cursor) == {"pk", "sk"}
            and cursor["pk"] == {"S": partition}
            and isinstance(cursor["sk"], dict)
            and set(cursor["sk"]) == {"S"}
            and isinstance(cursor["sk"]["S"], str)
        ):
            raise InvalidCursor(partition)
        result = DeliveryItem.query(
            partition,
            DeliveryItem.sk.startswith("D#"),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=cursor,
        )
        items = [_delivery_from(item) for item in result]
        return items, result.last_evaluated_key
