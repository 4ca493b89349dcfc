"""The alerts job (EventBridge → Lambda, every five minutes): alert emails and webhook
deliveries that are due, with their retries. "Now" is the event's ``time``."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

from chalicelib.container import jobs
from chalicelib.observability import instrumented

alert_schedule = Blueprint(__name__)


@alert_schedule.schedule(
    Rate(5, unit=Rate.MINUTES),
    name="alert_deliveries",
    description="Sobre: alert emails and webhook deliveries (with retries) that are due",
)
@instrumented
def alert_deliveries(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.alerts import delivery  # lazy: the API's cold start never pays it

    return delivery.run_alerts(jobs(event.time))
