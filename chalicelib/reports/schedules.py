"""The hourly job (EventBridge → Lambda): each account's daily digest and its due
reminders. "Now" is the event's ``time`` — the time the run was scheduled for — so a
run is reproducible, and a test runs it at any moment by generating the event.

    python -m tools.admin run-schedule --now --account <id>   # locally (no EventBridge)
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

from chalicelib.container import jobs
from chalicelib.observability import instrumented

report_schedule = Blueprint(__name__)


@report_schedule.schedule(
    Rate(1, unit=Rate.HOURS),
    name="hourly_reports",
    description="Sobre: each account's daily digest at 07:00 local time, and due reminders",
)
@instrumented
def hourly_reports(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.reports import service  # lazy: the API's cold start never pays it

    return service.run_hourly(jobs(event.time))
