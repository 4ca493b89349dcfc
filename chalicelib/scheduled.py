"""The scheduled jobs (EventBridge → Lambda): digests and reminders every hour, alert
and webhook deliveries every five minutes. "Now" is the event's ``time`` — the time
the run was scheduled for — so a job is reproducible, and a test runs it at any
moment by generating the event.

    python -m tools.admin run-schedule --now --account <id>   # locally (no EventBridge)
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

scheduled = Blueprint(__name__)


@scheduled.schedule(
    Rate(1, unit=Rate.HOURS),
    name="hourly_reports",
    description="Sobre: each account's daily digest at 07:00 local time, and due reminders",
)
def hourly_reports(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib import report_service  # lazy: the API's cold start never pays it

    now = report_service.parse_event_time(event.time)
    return report_service.run_hourly(report_service.production_jobs(now))


@scheduled.schedule(
    Rate(5, unit=Rate.MINUTES),
    name="alert_deliveries",
    description="Sobre: alert emails and webhook deliveries (with retries) that are due",
)
def alert_deliveries(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib import report_service

    now = report_service.parse_event_time(event.time)
    return report_service.run_alerts(report_service.production_jobs(now))
