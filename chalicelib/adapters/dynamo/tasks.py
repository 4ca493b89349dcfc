"""The scheduled job's queue of due tasks over DynamoDB: one partition per hour of due
time, read in order behind a lease (one run at a time) from a cursor item."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.dynamo import (
    models,  # lazy: see __init__.py
    table,
)
from chalicelib.adapters.dynamo.helpers import save_unchanged, saved, table_client
from chalicelib.core.alerts import Alert
from chalicelib.core.model import Lease, iso, parse_iso
from chalicelib.core.webhooks import Task, alert_task

# Queue items are read within days; deliveries stay listable for a month.
TASK_TTL = timedelta(days=8)


QUEUE_CATCH_UP = timedelta(days=7)  # a queue cursor older than this restarts here


def _bucket(at: str) -> str:
    return f"DUE#{at[:13]}"


def _hours(start: str, end: str) -> Iterator[str]:
    hour = parse_iso(start[:13] + ":00:00.000Z")
    last = parse_iso(end[:13] + ":00:00.000Z")
    while hour <= last:
        yield _bucket(iso(hour))
        hour += timedelta(hours=1)


def _task_attributes(task: Task) -> dict[str, Any]:
    """A task as stored (raw attributes: what the TaskItem model serializes)."""
    return {
        "pk": {"S": _bucket(task.due_at)},
        "sk": {"S": task.position},
        "kind": {"S": task.kind},
        "data": {"S": json.dumps(task.data, separators=(",", ":"))},
        "expires_at": {"N": str(int((parse_iso(task.due_at) + TASK_TTL).timestamp()))},
    }


class DynamoTaskQueue:
    def schedule(self, tasks: list[Task]) -> None:
        if len(tasks) == 1:  # a pixel's crossing: the low-level client, no pynamodb
            table_client().put_item(TableName=table.name(), Item=_task_attributes(tasks[0]))
            return
        with models.TaskItem.batch_write() as batch:
            for task in tasks:
                batch.save(models.TaskItem.from_raw_data(_task_attributes(task)))

    def record(self, alerts: list[Alert], recorded_at: datetime) -> None:
        if alerts:
            self.schedule([alert_task(alert, recorded_at) for alert in alerts])

    def lease(self, now: datetime, seconds: int) -> Lease | None:
        try:
            item = models.QueueCursorItem.get("DUE", "CURSOR", consistent_read=True)
        except models.QueueCursorItem.DoesNotExist:
            item = models.QueueCursorItem(pk="DUE", sk="CURSOR")
        if item.lease_until and item.lease_until > iso(now):
            return None
        item.lease_until = iso(now + timedelta(seconds=seconds))
        if not saved(item):
            return None
        return Lease(item.position, item.version, item.lease_until)

    def release(self, lease: Lease, position: str | None) -> None:
        item = models.QueueCursorItem(pk="DUE", sk="CURSOR", position=position, lease_until=None)
        if lease.version is not None:
            item.version = lease.version
        save_unchanged(item, "task queue cursor")

    def due(self, after: str, until: str) -> Iterator[Task]:
        """Tasks with ``after`` < position <= ``until``, oldest first, hour by hour."""
        floor = iso(parse_iso(until) - QUEUE_CATCH_UP)
        after = max(after, floor)
        if after >= until + "#~":
            # A run with a shorter settle (``run-schedule --now``) may have gone past this
            # one's ``until``: nothing is due, and DynamoDB refuses an empty BETWEEN.
            return
        for bucket in _hours(after, until):
            condition = models.TaskItem.sk.between(after, until + "#~")
            for item in models.TaskItem.query(bucket, condition):
                if item.sk <= after:
                    continue
                due_at, _, task_id = item.sk.partition("#")
                yield Task(due_at, task_id, item.kind, json.loads(item.data))
