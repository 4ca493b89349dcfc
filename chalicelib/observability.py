"""One Logger for the whole app (Powertools, configured by the POWERTOOLS_* variables
declared in .chalice/config.json), and metrics kept per invocation, written as
CloudWatch's embedded metric format (EMF).

Both cost nothing at import. Importing Powertools takes ~55 ms of a cold start (its
package imports its logger, metrics, tracer and jmespath together), which a forged
pixel, logging nothing, never needs: ``logger`` imports it at its first use, and the
Lambda context the middleware saw is added to it then. Metrics are the few lines of
EMF Powertools' ``EphemeralMetrics`` wrote (the same document: namespace ``Sobre``,
dimension ``service``, a list of values per metric), without Powertools.

Each invocation has its own metric set, found through a context variable (one per
thread), and flushes only its own: under ``chalice local`` (a thread per request) a
set shared between threads (Powertools' ``Metrics``) was emptied by one request's flush
while another had just checked it, and that one answered 500 (about one pixel in
10,000)."""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

NAMESPACE = "Sobre"
SERVICE = "sobre"


class _DeferredLogger:
    """Powertools' Logger, built at its first use. The Lambda context of the invocation
    in progress (``lambda_context``) is injected into it then, as Powertools'
    ``inject_lambda_context`` would have done at the invocation's start."""

    def __init__(self) -> None:
        self._real: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Logger | None:
        return cast("Logger | None", self._real)

    def real(self) -> Logger:
        if self._real is None:
            with self._lock:
                if self._real is None:
                    from aws_lambda_powertools import Logger

                    self._real = Logger(service=SERVICE)
                    pending = _pending_context.get()
                    if pending is not None:
                        _inject(self._real, *pending)
        return cast("Logger", self._real)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


_deferred = _DeferredLogger()
logger: Logger = cast("Logger", _deferred)
# The Lambda event and context of the invocation in progress, while the logger is not
# loaded; and whether a first invocation has been seen (Powertools' cold_start).
_pending_context: ContextVar[tuple[Any, Any] | None] = ContextVar("sobre_lambda", default=None)
_invoked = [0]


def _inject(real: Logger, event: Any, context: Any) -> None:
    real.inject_lambda_context(lambda _event, _context: None)(event, context)
    if _invoked[0] > 1:  # Powertools counts its first injection as the cold start
        real.append_keys(cold_start=False)


def with_lambda_context(event: Any, context: Any, call: Callable[[], R]) -> R:
    """``call()`` with the Lambda context in every log line it writes."""
    _invoked[0] += 1
    real = _deferred.loaded
    if real is not None:
        wrapped: Any = real.inject_lambda_context(lambda _event, _context: call())
        result: R = wrapped(event, context)
        return result
    token = _pending_context.set((event, context))
    try:
        return call()
    finally:
        _pending_context.reset(token)


def lambda_context(request: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice HTTP middleware: what ``ConvertToMiddleware(logger.inject_lambda_context)``
    did, without loading Powertools before a line is logged."""
    return with_lambda_context(
        request.to_original_event(), request.lambda_context, lambda: get_response(request)
    )


class _Invocation:
    """One invocation's metrics: name -> the sum counted (one value per metric: EMF takes
    at most 100 values a metric, and a 50-recipient send counts 50)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def flush(self) -> None:
        if self.values:
            _emit(self.values, {})


def _emit(values: dict[str, float], dimensions: dict[str, str]) -> None:
    """One EMF document on stdout, as Powertools writes it."""
    keys = [*dimensions, "service"]
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [keys],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in values],
                }
            ],
        },
        **dimensions,
        "service": SERVICE,
        **values,
    }
    sys.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
    sys.stdout.flush()


_invocation: ContextVar[_Invocation | None] = ContextVar("sobre_metrics", default=None)


def metrics_per_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware (every event type): this invocation's metrics, flushed as one
    EMF document when it ends, whatever other invocations run at the same time."""
    own = _Invocation()
    token = _invocation.set(own)
    try:
        return get_response(event)
    finally:
        _invocation.reset(token)
        own.flush()


class _LambdaEvent(Protocol):
    """What Chalice's SNSEvent, SQSEvent and CloudWatchEvent share."""

    context: Any

    def to_dict(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=_LambdaEvent)
R = TypeVar("R")


class EmfMetrics:
    """The ``MetricsSink`` the service uses in Lambda."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        if dimensions:
            # A dimensioned metric is its own document, written at once, so that its
            # dimensions apply to it alone.
            _emit({name: float(value)}, dict(dimensions))
            return
        current = _invocation.get()
        # None outside any invocation (an operator command, whose stdout is its answer):
        # nothing would flush it, and it must not corrupt that answer.
        if current is not None:
            current.values[name] = current.values.get(name, 0.0) + value


def instrumented(handler: Callable[[E], R]) -> Callable[[E], R]:
    """The Lambda context in every log line and this invocation's metrics flushed at
    the end, for the functions Lambda calls without importing app.py (SES events, the
    fetch fallback, the schedules: Chalice points their handler at the entry point's
    module, so the app's middleware never runs there). Goes under Chalice's decorator;
    app.py registers the same two middlewares for HTTP only, so nothing runs twice."""

    @functools.wraps(handler)
    def run(event: E) -> R:
        def call() -> R:
            result: R = metrics_per_invocation(event, handler)
            return result

        return with_lambda_context(event.to_dict(), event.context, call)

    return run
