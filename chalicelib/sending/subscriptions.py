"""The ``sender`` function: the send queue (SQS → Lambda → ``sender.run_batch``), with
partial batch failures (``ReportBatchItemFailures`` on the event source, in
infra/template.yaml, with its MaximumConcurrency)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, SQSEvent

from chalicelib.container import context
from chalicelib.lazy import lazy_module
from chalicelib.observability import instrumented
from chalicelib.settings import SEND_QUEUE_NAME

if TYPE_CHECKING:
    from chalicelib.sending import sender
else:  # loaded by the first batch (chalicelib/lazy.py): the pixel's cold start skips it
    sender = lazy_module("chalicelib.sending.sender")

send_queue = Blueprint(__name__)


# The template points the event source at the stack's own queue; the name here is what
# `chalice package` needs to generate it.
@send_queue.on_sqs_message(queue=SEND_QUEUE_NAME, batch_size=10, name="sender")
@instrumented
def on_queued_send(event: SQSEvent) -> dict[str, Any]:
    records = event.to_dict().get("Records") or []
    again = sender.run_batch(
        context(),
        (
            sender.Received(
                str(r.get("messageId", "")),
                str(r.get("body", "")),
                str(r.get("receiptHandle", "")),
                int((r.get("attributes") or {}).get("ApproximateReceiveCount") or 1),
            )
            for r in records
        ),
    )
    return {"batchItemFailures": [{"itemIdentifier": m} for m in again]}
