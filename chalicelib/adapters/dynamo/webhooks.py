"""Webhooks and their deliveries over DynamoDB: a partition per account of webhooks,
a partition per webhook of deliveries (newest last), each versioned."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from chalicelib.adapters.dynamo import models  # lazy: see __init__.py
from chalicelib.adapters.dynamo.helpers import save_unchanged, saved
from chalicelib.core.model import parse_iso
from chalicelib.core.webhooks import Delivery, Webhook
from chalicelib.errors import InvalidCursor

DELIVERY_TTL = timedelta(days=30)


def _webhook_from(item: models.WebhookItem) -> Webhook:
    data = json.loads(item.data)
    return Webhook(**data, version=item.version)


def _delivery_from(item: models.DeliveryItem) -> Delivery:
    data = json.loads(item.data)
    return Delivery(**data, version=item.version)


def _without_version(value: Webhook | Delivery) -> str:
    data = asdict(value)
    data.pop("version")
    return json.dumps(data, separators=(",", ":"))


class DynamoWebhookStore:
    def put_webhook(self, webhook: Webhook) -> None:
        item = models.WebhookItem(
            pk=f"WEBHOOKS#{webhook.account_id}", sk=webhook.id, data=_without_version(webhook)
        )
        if webhook.version is not None:
            item.version = webhook.version
        save_unchanged(item, webhook.id)
        webhook.version = item.version

    def get_webhook(self, account_id: str, webhook_id: str) -> Webhook | None:
        try:
            item = models.WebhookItem.get(
                f"WEBHOOKS#{account_id}", webhook_id, consistent_read=True
            )
        except models.WebhookItem.DoesNotExist:
            return None
        return _webhook_from(item)

    def list_webhooks(self, account_id: str) -> list[Webhook]:
        return [
            _webhook_from(item)
            for item in models.WebhookItem.query(f"WEBHOOKS#{account_id}", consistent_read=True)
        ]

    def _delivery_item(self, delivery: Delivery) -> models.DeliveryItem:
        item = models.DeliveryItem(
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
        if not saved(item, models.DeliveryItem.sk.does_not_exist()):
            return False
        delivery.version = item.version
        return True

    def get_delivery(self, webhook_id: str, key: str) -> Delivery | None:
        try:
            item = models.DeliveryItem.get(f"WEBHOOK#{webhook_id}", key, consistent_read=True)
        except models.DeliveryItem.DoesNotExist:
            return None
        return _delivery_from(item)

    def save_delivery(self, delivery: Delivery) -> None:
        item = self._delivery_item(delivery)
        save_unchanged(item, delivery.event_id)
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
        result = models.DeliveryItem.query(
            partition,
            models.DeliveryItem.sk.startswith("D#"),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=cursor,
        )
        items = [_delivery_from(item) for item in result]
        return items, result.last_evaluated_key
