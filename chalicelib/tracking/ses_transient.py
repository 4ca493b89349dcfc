"""Which failures are transient: worth Lambda retrying the whole invocation. Pure.

Recognised by shape rather than by importing botocore and pynamodb (the adapters'
libraries, which nothing outside ``adapters`` imports): our own ``Unavailable``, a
connection or timeout error (built-in, or botocore's by class name), or an AWS error
code that says "try again" (throttling, 5xx). Everything else is permanent: retrying
the same payload would fail the same way, so the event path keeps it as unprocessable
instead. A transient failure misjudged as permanent loses nothing (the record is kept,
replayable); the reverse would send a payload that can never apply to the DLQ.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.errors import ConcurrentUpdate, Unavailable

_TRANSIENT_CLASSES = {
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ConnectionClosedError",
    "HTTPClientError",
    "ProxyConnectionError",
}
_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionConflictException",
    "RequestTimeout",
    "RequestTimeoutException",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen or len(seen) > 20:
            continue
        seen.add(id(current))
        yield current
        cause = getattr(current, "cause", None)  # pynamodb wraps botocore's error here
        pending += [current.__cause__, current.__context__]
        if isinstance(cause, BaseException):
            pending.append(cause)


def _code(exc: BaseException) -> tuple[str | None, int]:
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, 0
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, dict) else None
    meta = response.get("ResponseMetadata")
    status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
    return (code if isinstance(code, str) else None), (status if isinstance(status, int) else 0)


def is_transient(exc: BaseException) -> bool:
    for current in _chain(exc):
        if isinstance(current, Unavailable | ConcurrentUpdate | ConnectionError | TimeoutError):
            return True
        if _TRANSIENT_CLASSES & {cls.__name__ for cls in type(current).__mro__}:
            return True
        code, status = _code(current)
        if code in _TRANSIENT_CODES or status >= 500:
            return True
    return False
