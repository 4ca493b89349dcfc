"""One Logger and one Metrics for the whole app (Powertools, configured by the
POWERTOOLS_* variables declared in .chalice/config.json)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service="sobre")
metrics = Metrics(namespace="Sobre", service="sobre")


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
                name=name, unit=MetricUnit.Count, value=value, namespace="Sobre"
            ) as metric:
                for key, dim in dimensions.items():
                    metric.add_dimension(name=key, value=dim)
            return
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def instrumented(handler: Callable[[E], R]) -> Callable[[E], R]:
    """The Lambda context in every log line and the metrics flushed at the end, for the
    functions Lambda calls without importing app.py (SES events, the fetch fallback,
    the schedules: Chalice points their handler at the entry point's module, so the
    app's middleware never runs there). Goes under Chalice's decorator; app.py
    registers the same two middlewares for HTTP only, so nothing runs twice."""

    @functools.wraps(handler)
    def run(event: E) -> R:
        def call(_raw: dict[str, Any], _context: Any) -> R:
            return handler(event)

        wrapped = logger.inject_lambda_context(metrics.log_metrics(call))
        return cast("R", wrapped(event.to_dict(), event.context))

    return run
