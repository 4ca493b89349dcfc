"""The queues over SQS: the fetch fallback queue (``ports.FetchQueue``), whose client has
timeouts of its own, short ones: it is called when the request's deadline has already
passed, and storage being down must not make the pixel wait on this too; and the send
queue (``ports.SendQueue``), ten messages a call."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from chalicelib.core.sends import QueuedSend

SQS_BATCH = 10  # SendMessageBatch's most entries


class SqsFetchQueue:
    def __init__(self, queue_url: str | None, region: str) -> None:
        if not queue_url:
            raise ValueError("SOBRE_FETCH_QUEUE_URL is not set")
        self._queue_url = queue_url
        self._region = region

    @cached_property
    def _sqs(self) -> Any:
        # Lazy: built on the first deferred fetch only. botocore's session, not boto3's
        # (which imports s3transfer and multiprocessing: ~150 ms more, when storage is
        # already late).
        import botocore.session
        from botocore.config import Config

        config = Config(
            connect_timeout=0.3,
            read_timeout=0.5,
            retries={"total_max_attempts": 2, "mode": "standard"},
        )
        return botocore.session.get_session().create_client(
            "sqs", region_name=self._region, config=config
        )

    def defer(self, body: str) -> None:
        self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)


class SqsSendQueue:
    def __init__(self, queue_url: str | None, region: str) -> None:
        if not queue_url:
            raise ValueError("SOBRE_SEND_QUEUE_URL is not set")
        self._queue_url = queue_url
        self._region = region

    @cached_property
    def _sqs(self) -> Any:
        import boto3  # lazy: built on the first send only
        from botocore.config import Config

        config = Config(
            connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 3, "mode": "standard"}
        )
        return boto3.client("sqs", region_name=self._region, config=config)

    def enqueue(self, sends: Sequence[QueuedSend]) -> None:
        for start in range(0, len(sends), SQS_BATCH):
            chunk = sends[start : start + SQS_BATCH]
            entries = [{"Id": str(i), "MessageBody": s.to_json()} for i, s in enumerate(chunk)]
            answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} of {len(chunk)} sends")

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
