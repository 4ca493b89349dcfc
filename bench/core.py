"""What every section shares: result rows, percentiles, silencing the app's log output,
the local AWS environment, and the botocore-level DynamoDB request counter."""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
TABLE = "sobre"
SENDER = "billing@example.com"
ACCOUNT = "acme"
TOKEN_SECRET = "bench-token-secret-0123456789abcdef"
BASE_URL = "https://track.example.com"

Verdict = Literal["pass", "falls short", "info"]


@dataclass
class Row:
    """One line of the table: a figure beside its target."""

    section: str
    measure: str
    value: str
    target: str = ""
    verdict: Verdict = "info"
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "section": self.section,
            "measure": self.measure,
            "value": self.value,
            "target": self.target or None,
            "verdict": self.verdict,
            "data": self.data,
        }


def verdict(ok: bool) -> Verdict:
    return "pass" if ok else "falls short"


@dataclass(frozen=True)
class Mode:
    """How much work each section does (``--smoke`` shrinks everything)."""

    smoke: bool
    recipient_counts: tuple[int, ...]
    opens_measured: tuple[int, ...]  # which pixel opens of one invoice section 1 meters
    index_invoices: int
    cpu_opens: int
    cpu_invoices: int
    cpu_events_per_type: int
    cpu_route_calls: int
    cold_runs: int
    concurrent: int
    package: bool

    @staticmethod
    def of(smoke: bool) -> Mode:
        if smoke:
            return Mode(
                smoke=True,
                recipient_counts=(1, 5),
                opens_measured=(1, 2, 10, 100),
                index_invoices=200,
                cpu_opens=200,
                cpu_invoices=20,
                cpu_events_per_type=10,
                cpu_route_calls=50,
                cold_runs=1,
                concurrent=20,
                package=False,
            )
        return Mode(
            smoke=False,
            recipient_counts=(1, 5, 50),
            opens_measured=(1, 2, 10, 100, 1_000, 5_000),
            index_invoices=10_000,
            cpu_opens=5_000,
            cpu_invoices=500,
            cpu_events_per_type=300,
            cpu_route_calls=1_000,
            cold_runs=7,
            concurrent=200,
            package=True,
        )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": max(ms),
    }


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send file descriptors 1 and 2 to /dev/null: the app logs JSON lines and
    Powertools prints its metrics on every request, as it would in Lambda. The work of
    formatting them is still done (and timed); only the output is dropped."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def stdout_silenced() -> Iterator[None]:
    """File descriptor 1 to /dev/null for the whole run (the app's JSON logs and
    metrics); progress and errors still reach stderr, the table is printed after."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


def progress(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


# -- the local AWS environment ----------------------------------------------------


def stack_environment(endpoint: str) -> dict[str, str]:
    """What the app reads, pointed at a local emulator."""
    from tests.emulators import aws_environment

    return {
        **aws_environment(endpoint),
        "SOBRE_TOKEN_SECRET": TOKEN_SECRET,
        "SOBRE_BASE_URL": BASE_URL,
        "SOBRE_TABLE_NAME": TABLE,
        "POWERTOOLS_SERVICE_NAME": "sobre",
        "POWERTOOLS_METRICS_NAMESPACE": "Sobre",
    }


def reset_app_caches() -> None:
    """Forget settings, the built Context and pynamodb's cached clients, so that the
    next request reads the environment again."""
    from chalicelib import container
    from chalicelib.adapters.dynamo import models
    from chalicelib.settings import get_settings

    get_settings.cache_clear()
    container.context.cache_clear()
    for model in models.MODELS:
        model._connection = None


def use_environment(values: dict[str, str]) -> None:
    os.environ.update(values)
    reset_app_caches()


@dataclass(frozen=True)
class Backends:
    """The emulators the bench started: moto (DynamoDB, SES, SNS) and, when installed,
    dynalite (DynamoDB only). dynalite locks an item for a conditional write, as
    DynamoDB does; moto's threaded server takes no lock between checking the condition
    and writing, so concurrent conditional writers may not exclude each other there."""

    moto: str
    dynalite: str | None

    def dynamodb(self) -> list[tuple[str, str | None]]:
        """(name, DynamoDB endpoint override) of each backend, moto first."""
        found: list[tuple[str, str | None]] = [("moto", None)]
        if self.dynalite:
            found.append(("dynalite", self.dynalite))
        return found


@contextlib.contextmanager
def dynamodb_at(url: str | None, table: str = TABLE) -> Iterator[None]:
    """This process's DynamoDB requests go to ``url`` (None: moto, as the rest of AWS),
    where ``table`` is created if missing. SES and SNS stay on moto."""
    from infra.local_stack import create_table

    if url:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = url
    reset_app_caches()
    try:
        create_table(table, REGION)
        yield
    finally:
        os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
        reset_app_caches()


# -- counting DynamoDB requests at the botocore level ------------------------------

WRITE_OPERATIONS = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
READ_OPERATIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})


@dataclass
class Tally:
    """What one measured operation cost."""

    calls: Counter[str] = field(default_factory=Counter)  # DynamoDB operation -> count
    conditional_failures: int = 0  # ConditionalCheckFailedException responses
    errors: Counter[str] = field(default_factory=Counter)  # any other error code
    attempts: int = 0  # HTTP requests sent to DynamoDB (retries included)
    scanned: int = 0  # ScannedCount of Query/Scan, + 1 per item GetItem returned
    returned: int = 0  # Count of Query/Scan, + 1 per item GetItem returned
    capacity: float = 0.0  # ConsumedCapacity.CapacityUnits, when the emulator reports it
    other: Counter[str] = field(default_factory=Counter)  # "sesv2.SendEmail" ...

    @property
    def writes(self) -> int:
        return sum(n for op, n in self.calls.items() if op in WRITE_OPERATIONS)

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in READ_OPERATIONS)

    def describe(self) -> str:
        parts = [f"{n} {op}" for op, n in sorted(self.calls.items()) if n and op]
        text = " + ".join(parts) if parts else "none"
        if self.errors:
            text += " (errors: " + ", ".join(f"{n} {c}" for c, n in self.errors.items()) + ")"
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.calls),
            "conditional_check_failed": self.conditional_failures,
            "errors": dict(self.errors),
            "writes": self.writes,
            "reads": self.reads,
            "http_attempts": self.attempts,
            "items_scanned": self.scanned,
            "items_returned": self.returned,
            "capacity_units": round(self.capacity, 2),
            "other_services": dict(self.other),
        }


class _BotocoreWhileMetered:
    """While a block of the request counter or the capacity meter is open (in any
    thread), the stores call DynamoDB through botocore's client, whose event hooks both
    read; elsewhere through the light client (chalicelib/adapters/dynamo/lite.py), as
    deployed. The requests are the same either way."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._saved: str | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        from chalicelib.adapters.dynamo import lite

        with self._lock:
            if self._open == 0:
                self._saved = os.environ.get(lite.CLIENT_SETTING)
                os.environ[lite.CLIENT_SETTING] = "botocore"
            self._open += 1
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    if self._saved is None:
                        os.environ.pop(lite.CLIENT_SETTING, None)
                    else:
                        os.environ[lite.CLIENT_SETTING] = self._saved


BOTOCORE_WHILE_METERED = _BotocoreWhileMetered()


class RequestCounter:
    """Counts DynamoDB requests by type, as botocore sends them.

    pynamodb builds its own botocore session and client (``Connection.client``), and
    boto3 another for each ``boto3.client``; each client copies its session's event
    hooks when it is created. So the counter wraps ``botocore.session.Session.
    create_client`` (before any client exists) and registers three handlers on every
    new client's ``meta.events``:

    * ``after-call``: one per API call, with the parsed response, so that errors
      (``ConditionalCheckFailedException``), ``ScannedCount`` and ``ConsumedCapacity``
      (pynamodb asks for ``TOTAL`` on every call) are seen;
    * ``before-send``: one per HTTP attempt, so that botocore retries show.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tally = Tally()
        self._installed = False

    def install(self) -> None:
        if self._installed:
            return
        import botocore.session

        original: Callable[..., Any] = botocore.session.Session.create_client

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            self.attach(client)
            return client

        setattr(botocore.session.Session, "create_client", create_client)  # noqa: B010
        self._installed = True

    def attach(self, client: Any) -> None:
        client.meta.events.register("after-call", self._after_call)
        if client.meta.service_model.service_name == "dynamodb":
            client.meta.events.register("before-send", self._before_send)

    def _after_call(self, parsed: Any = None, model: Any = None, **_: Any) -> None:
        service = model.service_model.service_name if model is not None else "?"
        operation = model.name if model is not None else "?"
        with self._lock:
            tally = self._tally
            if service != "dynamodb":
                tally.other[f"{service}.{operation}"] += 1
                return
            tally.calls[operation] += 1
            if not isinstance(parsed, dict):
                return
            code = parsed.get("Error", {}).get("Code", "")
            if code == "ConditionalCheckFailedException":
                tally.conditional_failures += 1
            elif code:
                tally.errors[code] += 1
            if operation in ("Query", "Scan"):
                tally.scanned += int(parsed.get("ScannedCount", 0))
                tally.returned += int(parsed.get("Count", 0))
            elif operation == "GetItem" and "Item" in parsed:
                tally.scanned += 1
                tally.returned += 1
            consumed = parsed.get("ConsumedCapacity")
            for entry in consumed if isinstance(consumed, list) else [consumed]:
                if isinstance(entry, dict):
                    tally.capacity += float(entry.get("CapacityUnits", 0) or 0)

    def _before_send(self, **_: Any) -> None:
        with self._lock:
            self._tally.attempts += 1

    @contextlib.contextmanager
    def measure(self) -> Iterator[Tally]:
        """Counts what runs inside the block (in any thread)."""
        with self._lock:
            self._tally = Tally()
            tally = self._tally
        with BOTOCORE_WHILE_METERED.held():
            yield tally
        with self._lock:
            self._tally = Tally()


COUNTER = RequestCounter()
