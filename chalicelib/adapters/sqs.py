"""The queues over SQS: the fetch fallback queue (``ports.FetchQueue``), whose client has
timeouts of its own, short ones: it is called when the request's deadline has already
passed, and storage being down must not make the pixel wait on this too; and the send
queue (``ports.SendQueue``), ten messages a call and a few calls at once, saying
which sends it did not take."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any

from chalicelib.core.sends import NotQueued, QueuedSend

SQS_BATCH = 10  # SendMessageBatch's most entries
IN_FLIGHT = 5  # SendMessageBatch calls at once (botocore's pool holds 10 connections)


class SqsFetchQueue:
    def __init__(self, queue_url: str | None, region: str) -> None:
        if not queue_url:
            raise ValueError("SOBRE_FETCH_QUEUE_URL is not set")
        self._queue_url = queue_url
        self._region = region

    @cached_property
    def _sqs(self) -> Any:
        # Lazy: built once a write is late (``connect``), never on a pixel that storage
        # answers in time. botocore's session, not boto3's (which imports s3transfer and
        # multiprocessing: ~150 ms more, when storage is already late).
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

    def connect(self) -> None:
        self._sqs  # noqa: B018 (the cached client, built now)

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
        chunks = [sends[n : n + SQS_BATCH] for n in range(0, len(sends), SQS_BATCH)]
        if not chunks:
            return
        self._sqs  # noqa: B018 (the client built before any thread)
        down = threading.Event()

        def call(chunk: Sequence[QueuedSend]) -> tuple[list[QueuedSend], str | None]:
            return self._send_batch(chunk, down)

        if len(chunks) == 1:
            results = [call(chunks[0])]
        else:  # a batch's sends: a few calls at once (each waits on SQS, not on us)
            with ThreadPoolExecutor(max_workers=min(IN_FLIGHT, len(chunks))) as pool:
                results = list(pool.map(call, chunks))
        refused = [send for failed, _ in results for send in failed]
        if refused:
            reasons = sorted({reason for failed, reason in results if failed and reason})
            raise NotQueued(refused, "; ".join(reasons))

    def _send_batch(
        self, chunk: Sequence[QueuedSend], down: threading.Event
    ) -> tuple[list[QueuedSend], str | None]:
        """One SendMessageBatch: the sends SQS did not take, and why. Once a call failed
        the queue is taken to be down: the calls not yet made are not made (each would
        wait as long, past the request's time)."""
        if down.is_set():
            return list(chunk), None
        entries = [{"Id": str(i), "MessageBody": s.to_json()} for i, s in enumerate(chunk)]
        try:
            answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except Exception as exc:  # after the client's own retries
            down.set()
            return list(chunk), repr(exc)
        failed = answer.get("Failed") or []
        codes = sorted({str(f.get("Code")) for f in failed})
        return [chunk[int(f["Id"])] for f in failed], f"SQS refused them ({', '.join(codes)})"

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
        )
