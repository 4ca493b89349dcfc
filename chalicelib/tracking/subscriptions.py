"""The SES events consumer: SNS → Lambda → ``ses_service.process_sns_event``."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, SNSEvent

from chalicelib.container import context
from chalicelib.settings import EVENTS_TOPIC_NAME
from chalicelib.tracking import ses_service

ses_events = Blueprint(__name__)


@ses_events.on_sns_message(topic=EVENTS_TOPIC_NAME, name="ses_events")
def on_ses_event(event: SNSEvent) -> dict[str, Any]:
    # Chalice's SNSEvent exposes only the first record; the raw event has them all.
    return ses_service.process_sns_event(context(), event.to_dict())
