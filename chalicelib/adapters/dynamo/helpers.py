"""What every DynamoDB store here shares: conditional writes (the condition is the
check: no read before a write), TTLs, and the list indexes' keys and projection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.adapters.dynamo.models import InvoiceItem
from chalicelib.core.model import Invoice, Recipient
from chalicelib.errors import ConcurrentUpdate


def saved(item: Model, condition: Condition | None = None) -> bool:
    """Write ``item`` unless ``condition`` (and, for a versioned item, "unchanged since
    read") fails; False when it failed."""
    try:
        item.save(condition=condition)
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def save_unchanged(item: Model, what: str, condition: Condition | None = None) -> None:
    """``saved``, raising ``ConcurrentUpdate`` when someone else wrote first."""
    if not saved(item, condition):
        raise ConcurrentUpdate(what)


def expiry(epoch_seconds: int) -> datetime:
    """A TTL attribute's value from epoch seconds."""
    return datetime.fromtimestamp(epoch_seconds, UTC)


def is_index_key(key: Any, partition: str, hash_name: str, range_name: str) -> bool:
    """Whether ``key`` is a LastEvaluatedKey this index gives for ``partition`` (a
    cursor a client sent back): nothing else may reach the query."""
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


def index_key(item: InvoiceItem, hash_name: str, range_name: str) -> dict[str, Any]:
    return {
        "pk": {"S": item.pk},
        "sk": {"S": item.sk},
        hash_name: {"S": getattr(item, hash_name)},
        range_name: {"S": getattr(item, range_name)},
    }


def listed_invoice(item: InvoiceItem) -> Invoice:
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
