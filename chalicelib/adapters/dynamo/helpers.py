"""What every DynamoDB store here shares: conditional writes (the condition is the
check: no read before a write), TTLs, and checking the list index's cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo import (
    lite,
    models,  # lazy: see __init__.py
    table,
)
from chalicelib.errors import ConcurrentUpdate

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition
    from pynamodb.models import Model


def saved(item: Model, condition: Condition | None = None) -> bool:
    """Write ``item`` unless ``condition`` (and, for a versioned item, "unchanged since
    read") fails; False when it failed."""
    from pynamodb.exceptions import PutError  # an item in hand: pynamodb is loaded

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
    """The table's low-level client, for the expressions pynamodb's models do not offer
    (ADD with conditions, batch gets) and for every call of the public routes: the
    light one where the environment holds credentials (lite.py: no botocore to import
    or build at a cold start), else the botocore client pynamodb built (one pool)."""
    light = lite.from_environment(table.region())
    if light is not None:
        return light
    return models.InvoiceItem._get_connection().connection.client


def conditional(operation: str, **request: Any) -> bool:
    """One conditional write through ``table_client``; False when its condition failed."""
    client = table_client()
    try:
        getattr(client, operation)(TableName=table.name(), **request)
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def put_versioned(item: dict[str, Any], version: int | None) -> int | None:
    """Put ``item`` (raw attributes) if the stored one's ``version`` is still the one
    read (None: if there is none: a creation, never an overwrite), as pynamodb's
    VersionAttribute does; the new version, or None when someone else wrote first."""
    new = 1 if version is None else version + 1
    request: dict[str, Any] = {
        "Item": {**item, "version": {"N": str(new)}},
        "ConditionExpression": "attribute_not_exists(#v)" if version is None else "#v = :v",
        "ExpressionAttributeNames": {"#v": "version"},
    }
    if version is not None:
        request["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
    return new if conditional("put_item", **request) else None


def invoice_pk(invoice_id: str) -> dict[str, str]:
    return {"S": f"INVOICE#{invoice_id}"}


def fact_key(invoice_id: str, sk: str) -> dict[str, Any]:
    """The key of an item under the invoice's partition (summary, counters, a fact)."""
    return {"pk": invoice_pk(invoice_id), "sk": {"S": sk}}


def send_sk(recipient_id: str, attempt: int, reminder: bool = False) -> str:
    """``SEND#<recipient>#<attempt>``, or ``…#R<n>`` for reminder ``n``."""
    return f"SEND#{recipient_id}#{'R' if reminder else ''}{attempt}"
