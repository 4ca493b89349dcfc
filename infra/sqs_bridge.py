"""SQS → Lambda for the local stack: what Lambda's SQS event source does for the
``fetch_fallback`` and ``sender`` functions, emulated. Development only; never deployed.

    python -m infra.sqs_bridge --function sender --threads 2   # make run starts these

It long-polls a queue (moto's SQS), hands each batch to the app's handler as the Lambda
event SQS gives a function (``Records[]`` with ``body`` and ``attributes``, among them
``ApproximateReceiveCount``), and deletes the batch once the handler returned, except
the messages its answer lists in ``batchItemFailures`` (``ReportBatchItemFailures``). A
batch whose handler raised, or a failed item, is left alone: it comes back after the
queue's visibility timeout (or the delay the handler set), and after the redrive
policy's receives it is in the dead-letter queue, as in AWS.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

from infra.sns_bridge import Invoke

FUNCTION_NAME = "fetch_fallback"
SENDER_FUNCTION = "sender"


def lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records[]`` element of the Lambda event for a received SQS message."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": dict(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsPoller:
    """Polls ``queue_url`` and invokes ``invoke`` with each batch, until stopped."""

    def __init__(
        self,
        invoke: Invoke,
        queue_url: str,
        region: str,
        batch_size: int = 10,
        function: str = FUNCTION_NAME,
    ) -> None:
        import boto3

        self._invoke = invoke
        self.function = function
        self._queue_url = queue_url
        self._region = region
        self._batch_size = batch_size
        self._sqs: Any = boto3.client("sqs", region_name=region)
        self._arn = str(
            self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        )
        self._stopped = threading.Event()
        self.batches = 0
        self.failures = 0

    def start(self) -> SqsPoller:
        threading.Thread(target=self._work, name="sqs-bridge", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and deliver it; the number of messages received."""
        received = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        event = {"Records": [lambda_record(m, self._arn, self._region) for m in received]}
        try:
            result = self._invoke(event)
        except Exception as exc:  # left in the queue: back after the visibility timeout
            self.failures += 1
            log(f"{self.function} failed on {len(received)} messages: {exc!r}")
            return len(received)
        failed = {
            str(f.get("itemIdentifier"))
            for f in (result.get("batchItemFailures") if isinstance(result, dict) else None) or []
        }
        done = [m for m in received if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        self.batches += 1
        self.failures += len(failed)
        log(f"{self.function} <- {len(received)} messages ({len(failed)} back later)")
        return len(received)

    def start_threads(self, count: int) -> SqsPoller:
        """``count`` pollers at once (the event source's concurrency)."""
        for n in range(count):
            threading.Thread(target=self._work, name=f"sqs-bridge-{n}", daemon=True).start()
        return self

    def _work(self) -> None:
        while not self._stopped.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # the emulator restarting: try again shortly
                log(f"polling failed: {exc!r}")
                time.sleep(1)


def log(text: str) -> None:
    print(f"sqs bridge: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """One sender (or fetch consumer) process: as Lambda runs each function instance in
    its own container, the local stack runs its senders as processes of their own (one
    interpreter each: one process cannot mail 14 messages a second and answer the API),
    each pacing itself to its share of SES's rate (``SOBRE_SENDER_CONCURRENCY``)."""
    from infra.sns_bridge import app_invoker

    parser = argparse.ArgumentParser(prog="python -m infra.sqs_bridge", description=__doc__)
    parser.add_argument("--function", choices=[SENDER_FUNCTION, FUNCTION_NAME], required=True)
    parser.add_argument("--threads", type=int, default=2, help="pollers at once")
    parser.add_argument(
        "--nice",
        type=int,
        default=5,
        help="CPU priority below the API's (as in AWS, where "
        "the API never waits for a sender's CPU)",
    )
    args = parser.parse_args(argv)
    variable = (
        "SOBRE_SEND_QUEUE_URL" if args.function == SENDER_FUNCTION else "SOBRE_FETCH_QUEUE_URL"
    )
    queue_url = os.environ.get(variable)
    if not queue_url:
        print(f"{variable} is not set: source .sobre/local.env first", file=sys.stderr)
        return 2
    os.nice(max(0, args.nice))
    region = os.environ.get("AWS_REGION") or "us-east-1"
    poller = SqsPoller(app_invoker(args.function), queue_url, region, function=args.function)
    poller.start_threads(max(1, args.threads))
    print(f"Draining {queue_url} into {args.function} ({args.threads} pollers)", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
