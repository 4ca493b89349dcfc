"""What every DynamoDB store here shares: conditional writes (the condition is the
check: no read before a write), TTLs, and checking the list index's cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import PutError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from chalicelib.adapters.dynamo.models import InvoiceItem
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


def table_client() -> Any:
    """The botocore client pynamodb built for the table (one client, one pool): for
    the expressions pynamodb's models do not offer (ADD with conditions, batch gets)."""
    return InvoiceItem._get_connection().connection.client


def conditional(operation: str, **request: Any) -> bool:
    """One conditional write through ``table_client``; False when its condition failed."""
    client = table_client()
    try:
        getattr(client, operation)(TableName=InvoiceItem.Meta.table_name, **request)
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def invoice_pk(invoice_id: str) -> dict[str, str]:
    return {"S": f"INVOICE#{invoice_id}"}


def fact_key(invoice_id: str, sk: str) -> dict[str, Any]:
    """The key of an item under the invoice's partition (summary, counters, a fact)."""
    return {"pk": invoice_pk(invoice_id), "sk": {"S": sk}}


def send_sk(recipient_id: str, attempt: int, reminder: bool = False) -> str:
    """``SEND#<recipient>#<attempt>``, or ``…#R<n>`` for reminder ``n``."""
    return f"SEND#{recipient_id}#{'R' if reminder else ''}{attempt}"
