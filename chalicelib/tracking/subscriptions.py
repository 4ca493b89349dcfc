"""The consumers: SES events (SNS → Lambda → ``ses_service.process_sns_event``) and the
fetches the public routes deferred (SQS → Lambda → ``service.apply_deferred``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, SNSEvent, SQSEvent

from chalicelib.container import context
from chalicelib.lazy import lazy_module
from chalicelib.observability import instrumented
from chalicelib.settings import EVENTS_TOPIC_NAME, FETCH_QUEUE_NAME
from chalicelib.tracking import service

if TYPE_CHECKING:
    from chalicelib.tracking import ses_service
else:  # loaded by the first request that needs them (chalicelib/lazy.py)
    ses_service = lazy_module("chalicelib.tracking.ses_service")
ses_events = Blueprint(__name__)


@ses_events.on_sns_message(topic=EVENTS_TOPIC_NAME, name="ses_events")
@instrumented
def on_ses_event(event: SNSEvent) -> dict[str, Any]:
    # Chalice's SNSEvent exposes only the first record; the raw event has them all.
    return ses_service.process_sns_event(context(), event.to_dict())


# The template points the event source at the stack's own queue (infra/template.yaml);
# the name here is what `chalice package` needs to generate it. A failed batch comes
# back after the queue's visibility timeout: applying a fetch twice changes nothing.
@ses_events.on_sqs_message(queue=FETCH_QUEUE_NAME, batch_size=10, name="fetch_fallback")
@instrumented
def on_deferred_fetch(event: SQSEvent) -> dict[str, Any]:
    applied = service.apply_deferred(context(), (record.body for record in event))
    return {"applied": applied}
