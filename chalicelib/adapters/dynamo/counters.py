"""A recipient's counters item (``INVOICE#<id>`` / ``INVOICE#R#<recipient>``): opens,
machine opens and clicks, changed with ADD (commutative: concurrent fetches never
conflict), the first person's fetch and the last open with conditional SETs, and a slot
per change so that a retried change is not counted twice."""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.adapters.dynamo import table
from chalicelib.adapters.dynamo.helpers import conditional, fact_key, table_client
from chalicelib.core.model import CountChange
from chalicelib.core.status import Tally

COUNTERS = "INVOICE#R#"


# Slots of a recipient's counters item: each holds a digest of the last change written
# through it, so a retried change finds itself and is not counted twice.
OP_SLOTS = 16


def _slot(op: str) -> tuple[str, str]:
    """Which of the OP_SLOTS slots a change writes, and the digest it leaves there."""
    digest = hashlib.sha256(op.encode()).hexdigest()
    return f"o{int(digest[:8], 16) % OP_SLOTS}", digest[:12]


def count(invoice_id: str, change: CountChange, expires_at: int) -> bool:
    """ADD the counts and note the change in its slot, in one UpdateItem whose
    condition is "not this change again" and, for the times, "later than the last
    open" / "earlier than the first person's fetch". When only a time condition
    fails (a concurrent fetch got there first), the counts go in alone."""
    slot, digest = _slot(change.op)
    values: dict[str, Any] = {":op": {"S": digest}, ":x": {"N": str(expires_at)}}
    adds = []
    for name in ("open_count", "machine_open_count", "click_count"):
        if getattr(change, name):
            adds.append(f"{name} :{name}")
            values[f":{name}"] = {"N": str(getattr(change, name))}
    # Every writer computes the same TTL (the invoice's creation + the account's current
    # retention), so each write sets it: a retention shortened since applies here too.
    sets = ["#slot = :op", "expires_at = :x"]
    conditions = ["(attribute_not_exists(#slot) OR #slot <> :op)"]
    timed_sets, timed_conditions, timed_values = [], [], {}
    if change.last_opened_at:
        timed_sets.append("last_opened_at = :last")
        timed_conditions.append("(attribute_not_exists(last_opened_at) OR last_opened_at < :last)")
        timed_values[":last"] = {"S": change.last_opened_at}
    if change.first_person_at:
        timed_sets.append("first_person_at = :first")
        timed_conditions.append(
            "(attribute_not_exists(first_person_at) OR first_person_at > :first)"
        )
        timed_values[":first"] = {"S": change.first_person_at}

    def update(with_times: bool) -> bool:
        expression = "SET " + ", ".join(sets + (timed_sets if with_times else []))
        if adds:
            expression += " ADD " + ", ".join(adds)
        return conditional(
            "update_item",
            Key=fact_key(invoice_id, f"{COUNTERS}{change.recipient_id}"),
            UpdateExpression=expression,
            ConditionExpression=" AND ".join(conditions + (timed_conditions if with_times else [])),
            ExpressionAttributeNames={"#slot": slot},
            ExpressionAttributeValues={**values, **(timed_values if with_times else {})},
        )

    if update(with_times=True):
        return True
    if not timed_sets:
        return False  # the slot already holds this change: a retry
    # A time lost to a concurrent fetch (or both times...): each alone, then counts.
    for expression, condition, name in zip(timed_sets, timed_conditions, timed_values, strict=True):
        conditional(
            "update_item",
            Key=fact_key(invoice_id, f"{COUNTERS}{change.recipient_id}"),
            UpdateExpression=f"SET {expression}",
            ConditionExpression=condition,
            ExpressionAttributeValues={name: timed_values[name]},
        )
    return update(with_times=False)


def replace(invoice_id: str, recipient_id: str, tally: Tally, expires_at: int) -> None:
    item: dict[str, Any] = {
        **fact_key(invoice_id, f"{COUNTERS}{recipient_id}"),
        "open_count": {"N": str(tally.open_count)},
        "machine_open_count": {"N": str(tally.machine_open_count)},
        "click_count": {"N": str(tally.click_count)},
        "expires_at": {"N": str(expires_at)},
    }
    if tally.last_opened_at:
        item["last_opened_at"] = {"S": tally.last_opened_at}
    if tally.first_person_at:
        item["first_person_at"] = {"S": tally.first_person_at}
    table_client().put_item(TableName=table.name(), Item=item)


def move_last_open(invoice_id: str, recipient_id: str, old: str, new: str | None) -> bool:
    """Move ``last_opened_at`` back from ``old`` (an open re-judged a machine's) to
    ``new``, unless a later open moved it meanwhile."""
    action = "SET last_opened_at = :new" if new else "REMOVE last_opened_at"
    values: dict[str, Any] = {":old": {"S": old}}
    if new:
        values[":new"] = {"S": new}
    return conditional(
        "update_item",
        Key=fact_key(invoice_id, f"{COUNTERS}{recipient_id}"),
        UpdateExpression=action,
        ConditionExpression="last_opened_at = :old",
        ExpressionAttributeValues=values,
    )
