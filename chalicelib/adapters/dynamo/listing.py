"""The list index (``by_status``): pages of an account's invoices, merged lazily over
its partitions (status groups x shards), most recently changed first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.dynamo import table
from chalicelib.adapters.dynamo.helpers import is_index_key, table_client
from chalicelib.core.model import Invoice, ListedFigures, Page
from chalicelib.errors import InvalidCursor

# About as many index entries as 4 KB holds, half a read unit (an entry is the summary's
# slim list attributes, ~500 bytes; docs/DESIGN.md, "The index").
_ENTRIES_PER_READ = 8


def list_index(
    partitions: list[str],
    limit: int,
    cursor: dict[str, Any] | None,
    status: str | None = None,
    after: str | None = None,
    before: str | None = None,
    payment: str | None = None,
) -> Page:
    """``limit`` invoices of ``partitions`` (in ``status`` and ``payment``, changed in
    [after, before]),
    most recently changed first. The partitions are merged lazily: each is read a few
    entries first, then what the page still lacks, so a page of 25 over six partitions
    reads about 25 entries, not 150, in few Queries (each is billed at least half a read
    unit, found or not). The cursor keeps a position per partition."""
    starts: dict[str, Any] = cursor if cursor is not None else dict.fromkeys(partitions)
    if not set(starts) <= set(partitions):
        raise InvalidCursor("a partition of another query")
    for partition, start in starts.items():
        if start is not None and not is_index_key(start, partition, "gsi1pk", "gsi1sk"):
            raise InvalidCursor(partition)
    # Each partition's share of the page (and one more), but never fewer entries than
    # half a read unit holds: a Query is billed per 4 KB read, at least half a unit, so
    # reading fewer only costs more Queries when the merge comes back for more.
    share = -(-limit // max(1, len(starts))) + 1
    first = min(max(share, _ENTRIES_PER_READ), limit + 1)
    streams = [
        _Stream(p, start, first, _Filter(status, after, before, payment))
        for p, start in starts.items()
    ]
    taken: list[dict[str, Any]] = []
    while len(taken) < limit:
        heads = [s for s in streams if s.peek(limit - len(taken)) is not None]
        if not heads:
            break
        best = max(heads, key=lambda s: s.head_key)
        taken.append(best.pop())
    next_cursor = {s.partition: s.position for s in streams if s.more}
    return Page([_listed(raw) for raw in taken], next_cursor or None)


def _listed(raw: dict[str, Any]) -> Invoice:
    """An invoice as the index projects it: the summary's slim fields, no recipients
    (their figures are the summary's own: sent_at, first opens, problem_count)."""

    def text(name: str) -> str | None:
        return raw[name]["S"] if name in raw and "S" in raw[name] else None

    return Invoice(
        id=raw["pk"]["S"].removeprefix("INVOICE#"),
        account_id=text("account_id") or "",
        number=text("number") or "",
        customer_name=text("customer_name") or "",
        currency=text("currency") or "",
        total=text("total") or "",
        due_date=text("due_date") or "",
        status=text("status") or "pending",  # type: ignore[arg-type]
        payment_status=text("payment_status") or "unpaid",  # type: ignore[arg-type]
        created_at=text("created_at") or "",
        updated_at=text("updated_at") or "",
        last_activity_at=text("updated_at") or "",
        recipients=[],
        listed=ListedFigures(
            sent_at=text("sent_at"),
            first_opened_at=text("first_opened_at"),
            first_machine_open_at=text("first_machine_open_at"),
            viewed_at=text("viewed_at"),
            problem_count=int(raw.get("problem_count", {"N": "0"})["N"]),
            recipient_count=int(raw.get("recipient_count", {"N": "0"})["N"]),
        ),
    )


@dataclass(frozen=True)
class _Filter:
    status: str | None
    after: str | None
    before: str | None
    payment: str | None = None  # paid or void: both share the closed partitions

    def apply(self, partition: str, request: dict[str, Any]) -> None:
        values: dict[str, Any] = {":p": {"S": partition}}
        condition = "gsi1pk = :p"
        if self.after is not None and self.before is not None:
            condition += " AND gsi1sk BETWEEN :after AND :before"
        elif self.after is not None:
            condition += " AND gsi1sk >= :after"
        elif self.before is not None:
            condition += " AND gsi1sk <= :before"
        if self.after is not None:
            values[":after"] = {"S": self.after}
        if self.before is not None:
            values[":before"] = {"S": self.before + "~"}
        filters: list[str] = []
        names: dict[str, str] = {}
        if self.status is not None:
            filters.append("#status = :s")
            names["#status"] = "status"
            values[":s"] = {"S": self.status}
        if self.payment in ("paid", "void"):
            filters.append("#payment = :ps")
            names["#payment"] = "payment_status"
            values[":ps"] = {"S": self.payment}
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
            request["ExpressionAttributeNames"] = names
        request["KeyConditionExpression"] = condition
        request["ExpressionAttributeValues"] = values


class _Stream:
    """One index partition, read lazily for the merge of ``list_index``."""

    def __init__(self, partition: str, start: Any, first: int, where: _Filter) -> None:
        self.partition = partition
        self.position: Any = start
        self._start = start
        self._first: int | None = first
        self._where = where
        self._buffer: list[dict[str, Any]] = []
        self._done = False

    def _fetch(self, want: int) -> None:
        # A filter (one status of its group) can leave a page empty: read on, bounded.
        for _ in range(20):
            if self._buffer or self._done:
                return
            # The first read is this partition's share of the page; a partition read
            # again is winning the merge: read what the page still lacks at once.
            limit = self._first or max(want, _ENTRIES_PER_READ)
            self._first = None
            request: dict[str, Any] = {
                "TableName": table.name(),
                "IndexName": "by_status",
                "ScanIndexForward": False,
                "Limit": limit,
            }
            self._where.apply(self.partition, request)
            if self._start is not None:
                request["ExclusiveStartKey"] = self._start
            answer = table_client().query(**request)
            self._buffer = list(answer.get("Items", []))
            self._start = answer.get("LastEvaluatedKey")
            self._done = self._start is None

    def peek(self, want: int) -> dict[str, Any] | None:
        """The partition's newest entry not taken yet; ``want``: how many entries the
        page still lacks (how many to read when the buffer is empty)."""
        self._fetch(want)
        return self._buffer[0] if self._buffer else None

    @property
    def head_key(self) -> str:
        return str(self._buffer[0]["gsi1sk"]["S"])

    def pop(self) -> dict[str, Any]:
        raw = self._buffer.pop(0)
        self.position = {k: raw[k] for k in ("pk", "sk", "gsi1pk", "gsi1sk")}
        return raw

    @property
    def more(self) -> bool:
        return bool(self._buffer) or not self._done
