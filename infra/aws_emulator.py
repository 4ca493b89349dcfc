"""The local AWS emulator: moto's server, with SES's sending rate. Development only;
never deployed.

    python -m infra.aws_emulator [-H 127.0.0.1] [-p 4566] [--ses-rate 14]

moto accepts every SendEmail at once; SES accepts an account's maximum send rate
(messages a second) and answers the rest as SESv2 does: HTTP 429 with
``x-amzn-ErrorType: TooManyRequestsException`` and ``{"message": "Maximum sending rate
exceeded."}``, which boto3 raises as a ``ClientError`` with that code (its standard
retries try again first). So the sender's back-pressure runs locally as in AWS.

The rate is ``--ses-rate`` or ``SOBRE_LOCAL_SES_RATE``: 14 by default (a new production
account's rate: the sandbox's 1/s makes a demo crawl), 0 for none. A token bucket of one
second's sends: a burst of ``rate`` at once, then ``rate`` a second.

``GET /_sobre/ses/messages?after=N`` lists the messages SES accepted after the first N,
in the order it accepted them (moto's own ``/moto-api/data.json`` dumps every service's
whole state: read twice a second by the SES event emulator, it grew with every message
sent and took the emulator's CPU from the API and the senders).

moto's SQS, as it is, costs O(messages in the queue) per message sent or received (it
computes every queue attribute, approximate counts included, to read the retention
period of each message it receives, and builds naive datetimes to tell each message's
visibility), so a month-end backlog of a thousand sends made each SendMessageBatch take
seconds. ``fast_sqs`` gives the same answers far cheaper: the time from ``time.time()``
(what moto's ``unix_time`` computes, the slow way) and the retention period read from
the queue itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

DEFAULT_SES_RATE = 14.0
SEND_PATH = "/v2/email/outbound-emails"  # SESv2 SendEmail
MESSAGES_PATH = "/_sobre/ses/messages"
THROTTLED_BODY = json.dumps({"message": "Maximum sending rate exceeded."}).encode()

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class TokenBucket:
    """``rate`` tokens a second, at most ``rate`` kept (``rate`` <= 0: unlimited)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = max(1.0, rate)
        self._at = clock()
        self._lock = threading.Lock()
        self.taken = 0
        self.refused = 0

    def take(self) -> bool:
        if self.rate <= 0:
            self.taken += 1
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(max(1.0, self.rate), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                self.taken += 1
                return True
            self.refused += 1
            return False


def is_send(environ: dict[str, Any]) -> bool:
    return bool(environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == SEND_PATH)


def fast_sqs() -> None:
    """moto's SQS with the same answers at a cost that does not grow with the queue."""
    from moto.core import utils
    from moto.sqs import models

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else utils.unix_time(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        queue = self.get_queue(queue_name)
        return bool(queue.message_retention_period + message.sent_timestamp / 1000 > time.time())

    # The names moto's SQS imported (moto.core.utils itself is left as it is).
    setattr(models, "unix_time", unix_time)  # noqa: B010
    setattr(models, "unix_time_millis", unix_time_millis)  # noqa: B010
    models.SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]


def accepted_messages(after: int) -> list[dict[str, Any]]:
    """The messages moto's SES accepted after the first ``after``, oldest first, as
    ``/moto-api/data.json`` has them (a ``kind`` more: ``RawMessage`` or ``Message``)."""
    from moto.ses.models import ses_backends

    found: list[dict[str, Any]] = []
    for regions in ses_backends.values():
        for backend in regions.values():
            for message in backend.sent_messages:
                kind = type(message).__name__
                if kind in ("RawMessage", "Message"):
                    found.append({"kind": kind, **vars(message)})
    return found[after:]


def _messages(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    after = parse_qs(str(environ.get("QUERY_STRING", ""))).get("after", ["0"])[0]
    body = json.dumps({"messages": accepted_messages(int(after) if after.isdigit() else 0)})
    encoded = body.encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))]
    )
    return [encoded]


def throttled(app: Wsgi, bucket: TokenBucket) -> Wsgi:
    """``app`` with SESv2 SendEmail limited to the bucket's rate (and the list of the
    messages accepted since a point, ``MESSAGES_PATH``)."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == MESSAGES_PATH and environ.get("REQUEST_METHOD") == "GET":
            return _messages(environ, start_response)
        if is_send(environ) and not bucket.take():
            start_response(
                "429 Too Many Requests",
                [
                    ("Content-Type", "application/json"),
                    ("x-amzn-ErrorType", "TooManyRequestsException"),
                    ("x-amzn-RequestId", f"throttled-{bucket.refused}"),
                    ("Content-Length", str(len(THROTTLED_BODY))),
                ],
            )
            return [THROTTLED_BODY]
        return app(environ, start_response)

    return wrapped


def main(argv: list[str] | None = None) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog="python -m infra.aws_emulator", description=__doc__)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    default_rate = float(os.environ.get("SOBRE_LOCAL_SES_RATE") or DEFAULT_SES_RATE)
    parser.add_argument("--ses-rate", type=float, default=default_rate)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    fast_sqs()
    app = DomainDispatcherApplication(create_backend_app)
    print(f"AWS emulator on {args.host}:{args.port}, SES at {args.ses_rate or 'any'}/s", flush=True)
    run_simple(
        args.host,
        args.port,
        throttled(app, TokenBucket(args.ses_rate)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C on `make run` reaches every child
        main()
