"""The fetch fallback queue over SQS (``ports.FetchQueue``). Its client has timeouts of
its own, short ones: it is called when the request's deadline has already passed, and
storage being down must not make the pixel wait on this too."""

from __future__ import annotations

from functools import cached_property
from typing import Any


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
