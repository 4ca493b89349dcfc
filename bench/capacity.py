"""DynamoDB capacity meter for the benchmarks: read and write request units (RRU, WRU)
per operation, indexes included, for botocore clients (boto3 and pynamodb).

    METER.install()                  # before the clients exist: they copy the hooks
    with METER.measure() as usage:   # usage.rru, .wru, .index_wru, .written_by_kind
        ...

dynalite reports the table's ConsumedCapacity, but nothing for index writes and nothing
when a condition check fails. So the meter reads each written item before and after the
write (consistent GetItem on a private, unhooked client: not metered) and bills indexes
by the developer guide's rules (GSI.html#GSI.ThroughputConsiderations.Writes). Images
are read around the write, not atomically: with concurrent writers of one item, index
figures are approximate. ``bench.core.COUNTER`` (it wraps every client) counts the
private reads too.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection import base as pynamodb_base

from bench.core import BOTOCORE_WHILE_METERED

Value = dict[str, Any]  # one attribute value as botocore parses it: {"S": "..."}
Item = dict[str, Value]
Image = Mapping[str, Value] | None  # an item before or after a write; None: absent
Json = dict[str, Any]

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
# A Query or Scan page that finds nothing is still billed a read: 1 RRU strongly
# consistent, 0.5 eventually (developer guide, read-write-operations: "a read operation
# on an item that does not exist ... still consumes"). dynalite reports 0 for an empty
# page, so the meter applies the floor; its GetItem and BatchGetItem bill absent keys.
_FLOORED_READS = frozenset({"Query", "Scan"})
_READ_FLOOR = "sobre.read_floor"  # where a read waits for its floor
# These come back without ConsumedCapacity, yet DynamoDB bills them (see _bill_one).
FAILED_CONDITIONS = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
_PENDING = "sobre.capacity"  # where a write's images wait in botocore's request context
# A hook must not break the call it meters: on these it leaves the call unmetered.
_GUARDED = (BotoCoreError, ClientError, KeyError, TypeError, ValueError)


def number_size(text: str) -> int:
    """Item sizes follow the developer guide, CapacityUnitCalculations.html. A number:
    1 byte per two significant digits (zeros trimmed both ends) + 1, "approximately":
    like dynalite we add 1 for a minus sign, but not the base-100 exponent's odd byte."""
    sign, digits, _ = Decimal(text).as_tuple()
    significant = "".join(map(str, digits)).strip("0")
    return 1 if not significant else 1 + math.ceil(len(significant) / 2) + sign


def _raw_bytes(value: bytes | str) -> bytes:
    # Parsed responses hold bytes; request bodies on the wire hold base64 text.
    return value if isinstance(value, bytes) else base64.b64decode(value)


_SIZES: dict[str, Callable[[Any], int]] = {
    "S": lambda s: len(s.encode()),
    "N": number_size,
    "B": lambda b: len(_raw_bytes(b)),
    "BOOL": lambda _: 1,
    "NULL": lambda _: 1,
    "SS": lambda ss: sum(len(s.encode()) for s in ss),
    "NS": lambda ns: sum(number_size(n) for n in ns),
    "BS": lambda bs: sum(len(_raw_bytes(b)) for b in bs),
    # 3 bytes of overhead per List or Map, and 1 more per element.
    "L": lambda values: 3 + sum(1 + value_size(v) for v in values),
    "M": lambda m: 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in m.items()),
}


def value_size(value: Value) -> int:
    ((kind, raw),) = value.items()
    return _SIZES[kind](raw)


def item_size(item: Image) -> int:
    """Names (UTF-8 bytes) + values; no storage overhead, which is not billed per request."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    """1 WRU per KB or part of one; even a write of nothing costs 1."""
    return max(1, math.ceil(size / 1024))


@dataclass(frozen=True)
class IndexDef:
    name: str
    keys: tuple[str, ...]  # partition key, then sort key if any
    projection: str = "ALL"  # ALL | KEYS_ONLY | INCLUDE
    included: frozenset[str] = frozenset()  # NonKeyAttributes of INCLUDE

    @classmethod
    def from_description(cls, index: Mapping[str, Any]) -> IndexDef:
        p, keys = index["Projection"], _key_names(index["KeySchema"])
        return cls(
            index["IndexName"], keys, p["ProjectionType"], frozenset(p.get("NonKeyAttributes", ()))
        )


def _key_names(schema: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"]))


@dataclass(frozen=True)
class TableDef:
    name: str
    keys: tuple[str, ...]  # partition key, then sort key if any
    indexes: tuple[IndexDef, ...] = ()

    @classmethod
    def from_description(cls, table: Mapping[str, Any]) -> TableDef:
        found = [*table.get("GlobalSecondaryIndexes", []), *table.get("LocalSecondaryIndexes", [])]
        indexes = tuple(IndexDef.from_description(index) for index in found)
        return cls(table["TableName"], _key_names(table["KeySchema"]), indexes)

    def kind_of(self, key: Mapping[str, Value]) -> str:
        """The item's kind: its sort key up to the first '#' ("INVOICE", "F", "MSG"), or
        its partition key's when the sort key is data (a NUMBER item's is the number)."""
        ((_, pk),) = key[self.keys[0]].items()
        if str(pk).startswith("NUMBER#"):
            return "NUMBER"
        ((_, raw),) = key[self.keys[-1]].items()
        return str(raw).split("#", 1)[0]


def projected(item: Image, table: TableDef, index: IndexDef) -> Item | None:
    """The item's entry in the index; None when it lacks an index key (sparse index)."""
    if item is None or any(name not in item for name in index.keys):
        return None
    if index.projection == "ALL":
        return dict(item)
    kept = {*table.keys, *index.keys} | (index.included if index.projection == "INCLUDE" else set())
    return {name: value for name, value in item.items() if name in kept}


def index_write_units(before: Image, after: Image, table: TableDef, index: IndexDef) -> int:
    """WRU one table write costs in one index: a new entry is a put, a vanished one a
    delete, a changed index key a delete + a put, a changed projected attribute a put
    of the entry (each its projected size, rounded up to 1 KB); else nothing."""
    old, new = projected(before, table, index), projected(after, table, index)
    if old is None:
        return 0 if new is None else write_units(item_size(new))
    if new is None:
        return write_units(item_size(old))
    if any(old[name] != new[name] for name in index.keys):
        return write_units(item_size(old)) + write_units(item_size(new))
    return write_units(item_size(new)) if old != new else 0


def table_units_by_rule(before: Image, after: Image) -> int:
    """A table write bills the larger of the item's images, before and after."""
    return write_units(max(item_size(before), item_size(after)))


@dataclass(eq=False)  # by identity: measure() removes its own Usage from the active ones
class Usage:
    rru: float = 0.0
    table_wru: float = 0.0  # dynalite's figure where it reports one, else by rule
    table_wru_by_rule: float = 0.0  # max(before, after) per item, to compare with it
    index_wru: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    requests: Counter[str] = field(default_factory=Counter)  # operation -> calls
    # The item's kind (see TableDef.kind_of) -> WRU of its writes, table and indexes.
    written_by_kind: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    conditional_failures: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def wru(self) -> float:
        with self._lock:
            return self.table_wru + sum(self.index_wru.values())

    def merge(self, other: Usage) -> None:
        with self._lock:
            for name in ("rru", "table_wru", "table_wru_by_rule", "conditional_failures"):
                setattr(self, name, getattr(self, name) + getattr(other, name))
            self.requests.update(other.requests)
            for name, units in other.index_wru.items():
                self.index_wru[name] += units
            for kind, units in other.written_by_kind.items():
                self.written_by_kind[kind] += units


class _Reader:
    """Uncounted reads, on a client from a private botocore session: no meter hooks."""

    def __init__(self, endpoint: str, region: str) -> None:
        session = botocore.session.Session()
        if session.get_credentials() is None:
            session.set_credentials("meter", "meter")  # an emulator takes any
        self.client: Any = session.create_client("dynamodb", region, endpoint_url=endpoint)
        self.tables: dict[str, TableDef] = {}  # read once; a racing second read is harmless

    def table(self, name: str) -> TableDef:
        if name not in self.tables:
            described = self.client.describe_table(TableName=name)["Table"]
            self.tables[name] = TableDef.from_description(described)
        return self.tables[name]

    def get(self, table: TableDef, key: Item) -> Item | None:
        found = self.client.get_item(TableName=table.name, Key=key, ConsistentRead=True)
        return dict(found["Item"]) if "Item" in found else None


@functools.cache  # one per endpoint; under a race, a spare one is harmless
def _reader(endpoint: str, region: str) -> _Reader:
    return _Reader(endpoint, region)


@dataclass
class _Write:
    table: TableDef
    key: Item  # in botocore's parameter form (B as bytes)
    before: Item | None
    factor: int  # 2 in a transaction: DynamoDB prepares then commits each item


def _item_requests(operation: str, body: Json) -> Iterator[tuple[str, Json]]:
    """(table, request) of each item a write request touches."""
    if operation == "BatchWriteItem":  # {table: [{"PutRequest" | "DeleteRequest": ...}]}
        entries = [(t, e) for t, listed in body["RequestItems"].items() for e in listed]
    elif operation == "TransactWriteItems":  # [{"Put" | "Update" | ...: {"TableName": ...}}]
        entries = [(next(iter(e.values()))["TableName"], e) for e in body["TransactItems"]]
    else:
        entries = [(body["TableName"], {operation: body})]
    return ((table, inner) for table, entry in entries for inner in entry.values())


def _request_key(table: TableDef, request: Mapping[str, Any]) -> Item:
    key = request["Key"] if "Key" in request else {n: request["Item"][n] for n in table.keys}
    # In parameter form, from the wire or parsed: of the key types S, N and B, only B
    # differs (base64 text on the wire).
    return {n: {"B": _raw_bytes(v["B"])} if "B" in v else dict(v) for n, v in key.items()}


def _entries(parsed: Json) -> list[Json]:
    found = parsed.get("ConsumedCapacity")  # one dict, or a list of them (batches)
    return [e for e in (found if isinstance(found, list) else [found]) if isinstance(e, dict)]


def _bill_one(write: _Write, reader: _Reader, failed: bool, lone: float | None, used: Usage) -> int:
    """Adds an item's index WRU to ``used``, and its WRU to its kind's; returns its table
    WRU by rule. ``lone``: dynalite's table figure, if the call wrote that item only.
    A failed conditional write still consumes write capacity: the existing item's size,
    at least 1 KB (developer guide, "Conditional writes"): the after-image is then the
    before-image, which bills that and no index; so too a transaction's ConditionCheck."""
    after = write.before if failed else reader.get(write.table, write.key)
    table_units = write.factor * table_units_by_rule(write.before, after)
    total = table_units if lone is None else lone
    for index in write.table.indexes:
        units = write.factor * index_write_units(write.before, after, write.table, index)
        used.index_wru[index.name] += units
        total += units
    used.written_by_kind[write.table.kind_of(write.key)] += total
    return table_units


class CapacityMeter:
    """Asks every DynamoDB call for ``ReturnConsumedCapacity=INDEXES`` and adds what it
    used to the ``Usage`` of each ``measure()`` block open at the time, in any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[Usage] = []
        self._emitters: list[Any] = []  # the event emitters hooked, for uninstall()
        self._installed = False
        self._get_session: Callable[..., Any] | None = None  # pynamodb's, while wrapped
        self._handlers: dict[str, Callable[..., None]] = {
            "provide-client-params.dynamodb": self._provide_params,
            "before-call.dynamodb": self._before_call,
            "after-call.dynamodb": self._after_call,
        }

    def install(self, session_or_none: Any = None) -> None:
        """Hooks the default boto3 session, ``session_or_none`` (a boto3 or botocore
        session) if given, and each botocore session pynamodb creates from now on."""
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        self._installed = True
        for session in filter(None, [session_or_none, boto3.DEFAULT_SESSION]):
            events = getattr(session, "events", None) or session.get_component("event_emitter")
            self._hook(events)
        self._wrap_pynamodb()

    def _wrap_pynamodb(self) -> None:
        # pynamodb's Connection.session calls the ``get_session`` that
        # pynamodb.connection.base imported from botocore.session (once per thread and
        # connection) and creates its client from it: wrapping that name hooks them all.
        if self._get_session is not None:
            return
        self._get_session = original = pynamodb_base.get_session  # type: ignore[attr-defined]

        def get_session(*args: Any, **kwargs: Any) -> Any:
            session = original(*args, **kwargs)
            self._hook(session.get_component("event_emitter"))
            return session

        pynamodb_base.get_session = get_session  # type: ignore[attr-defined]

    def attach(self, client: Any) -> None:
        """Hooks a client created before install() (clients copy their session's hooks)."""
        self._hook(client.meta.events)

    def _hook(self, events: Any) -> None:
        for event, handler in self._handlers.items():
            events.register(event, handler, unique_id=f"{event}.{id(self)}")
        self._emitters.append(events)  # atomic, as list.append is

    def uninstall(self) -> None:
        """Unhooks the sessions. Clients keep their copies of the hooks, idle from now."""
        self._installed = False
        with self._lock:
            emitters, self._emitters = self._emitters, []
        for events in emitters:
            for event in self._handlers:
                events.unregister(event, unique_id=f"{event}.{id(self)}")
        if self._get_session is not None:
            pynamodb_base.get_session = self._get_session  # type: ignore[attr-defined]
            self._get_session = None

    @contextlib.contextmanager
    def measure(self) -> Iterator[Usage]:
        with self._lock:
            self._active.append(usage := Usage())
        try:
            with BOTOCORE_WHILE_METERED.held():
                yield usage
        finally:
            with self._lock:
                self._active.remove(usage)

    def _provide_params(self, params: Json, model: Any, **_: Any) -> None:
        if self._installed and model.name in WRITES | READS:
            params["ReturnConsumedCapacity"] = "INDEXES"

    def _before_call(self, params: Json, model: Any, context: Json, **_: Any) -> None:
        # After serialisation the body is wire JSON whoever built it (boto3 client or
        # resource, pynamodb): the keys are plain attribute values here, never Python's.
        if self._installed and self._active and model.name in _FLOORED_READS:
            with contextlib.suppress(*_GUARDED):
                consistent = json.loads(params["body"]).get("ConsistentRead") is True
                context[_READ_FLOOR] = 1.0 if consistent else 0.5
        if not (self._installed and self._active and model.name in WRITES):
            return
        factor = 2 if model.name == "TransactWriteItems" else 1
        try:
            reader = _reader(params["url"], context["client_region"])
            writes = []
            for name, request in _item_requests(model.name, json.loads(params["body"])):
                key = _request_key(table := reader.table(name), request)
                writes.append(_Write(table, key, reader.get(table, key), factor))
        except _GUARDED:
            return  # the call will fail by itself, or be billed as reported only
        context[_PENDING] = (reader, writes)

    def _after_call(self, parsed: Any, model: Any, context: Json, **_: Any) -> None:
        if not (self._installed and model.name in WRITES | READS and isinstance(parsed, dict)):
            return
        with self._lock:
            active = list(self._active)
        if not active:
            return
        used = Usage(requests=Counter([model.name]))
        try:
            if model.name in READS:
                used.rru = sum(float(e.get("CapacityUnits", 0.0)) for e in _entries(parsed))
                used.rru = max(used.rru, context.get(_READ_FLOOR, 0.0))
            else:
                self._bill_writes(parsed, context.get(_PENDING), used)
        except _GUARDED:
            used = Usage(requests=Counter([model.name]))  # e.g. an image could not be read
        for usage in active:
            usage.merge(used)

    def _bill_writes(self, parsed: Json, pending: Any, used: Usage) -> None:
        found = _entries(parsed)
        # With INDEXES the table's own share is under "Table"; CapacityUnits is the total.
        reported = {e.get("TableName"): float(e.get("Table", e)["CapacityUnits"]) for e in found}
        code = parsed.get("Error", {}).get("Code", "")
        failed = code in FAILED_CONDITIONS
        used.conditional_failures = int(failed)
        if pending is None or (code and not failed):
            used.table_wru = sum(reported.values())  # no images, or nothing written
            return
        reader, writes = pending
        by_rule: Counter[str] = Counter()
        # BatchWriteItem hands back what it did not write: the caller sends it again.
        again = {"RequestItems": parsed.get("UnprocessedItems") or {}}
        unwritten = [
            (t, _request_key(reader.table(t), r))
            for t, r in _item_requests("BatchWriteItem", again)
        ]
        for write in (w for w in writes if (w.table.name, w.key) not in unwritten):
            lone = reported.get(write.table.name) if len(writes) == 1 else None
            by_rule[write.table.name] += _bill_one(write, reader, failed, lone, used)
        used.table_wru_by_rule = float(sum(by_rule.values()))
        used.table_wru = sum(reported.get(name, units) for name, units in by_rule.items())


METER = CapacityMeter()
