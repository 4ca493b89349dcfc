"""One Logger for the whole app, and metrics kept per invocation (Powertools, configured
by the POWERTOOLS_* variables declared in .chalice/config.json).

Powertools' ``Metrics`` keeps its metrics in class-level state shared by every instance
and thread. Under ``chalice local`` (a thread per request) one request's flush emptied
the set another had just checked, and that one answered 500 (``SchemaValidationError:
Must contain at least one metric``, about one pixel in 10,000). So each invocation gets
its own ``EphemeralMetrics`` (no shared state), found through a context variable (one
per thread), and flushes only its own."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric

NAMESPACE = "Sobre"
logger = Logger(service="sobre")
_invocation: ContextVar[EphemeralMetrics | None] = ContextVar("sobre_metrics", default=None)


def metrics_per_invocation(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware (every event type): this invocation's metrics, flushed as one
    EMF blob when it ends, whatever other invocations run at the same time."""
    own = EphemeralMetrics(namespace=NAMESPACE, service="sobre")
    token = _invocation.set(own)
    try:
        return get_response(event)
    finally:
        _invocation.reset(token)
        if own.metric_set:
            own.flush_metrics()


class _LambdaEvent(Protocol):
    """What Chalice's SNSEvent, SQSEvent and CloudWatchEvent share."""

    context: Any

    def to_dict(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=_LambdaEvent)
R = TypeVar("R")


class PowertoolsMetrics:
    """The ``MetricsSink`` the service uses in Lambda."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        if dimensions:
            # A dimensioned metric gets its own EMF blob so dimensions do not leak.
            with single_metric(
                name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE
            ) as metric:
                for key, dim in dimensions.items():
                    metric.add_dimension(name=key, value=dim)
            return
        current = _invocation.get()
        # None outside any invocation (an operator command, whose stdout is its answer):
        # nothing would flush it, and it must not corrupt that answer.
        if current is not None:
            current.add_metric(name=name, unit=MetricUnit.Count, value=value)


def instrumented(handler: Callable[[E], R]) -> Callable[[E], R]:
    """The Lambda context in every log line and this invocation's metrics flushed at
    the end, for the functions Lambda calls without importing app.py (SES events, the
    fetch fallback, the schedules: Chalice points their handler at the entry point's
    module, so the app's middleware never runs there). Goes under Chalice's decorator;
    app.py registers the same two middlewares for HTTP only, so nothing runs twice."""

    @functools.wraps(handler)
    def run(event: E) -> R:
        def call(_raw: dict[str, Any], _context: Any) -> R:
            result: R = metrics_per_invocation(event, handler)
            return result

        wrapped = logger.inject_lambda_context(call)
        returned: R = wrapped(event.to_dict(), event.context)
        return returned

    return run
