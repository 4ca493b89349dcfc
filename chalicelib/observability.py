"""One Logger and one Metrics for the whole app (Powertools, configured by the
POWERTOOLS_* variables declared in .chalice/config.json)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

logger = Logger(service="sobre")
metrics = Metrics(namespace="Sobre", service="sobre")


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
