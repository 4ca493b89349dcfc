"""Domain errors. They carry no HTTP knowledge; ``chalicelib.http`` maps them to responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    """The request is malformed; ``details`` lists every bad field."""

    code = "validation_failed"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class Unauthorized(DomainError):
    code = "unauthorized"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class RateLimited(DomainError):
    """Too many requests: ``retry_after`` is the whole seconds to wait (``Retry-After``)."""

    code = "rate_limited"

    def __init__(self, message: str, details: Any = None, *, retry_after: int = 1) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (DynamoDB, SES) failed in a way the client may retry."""

    code = "unavailable"


class ConcurrentUpdate(Exception):
    """Raised by a repository when an optimistic-lock write lost a race."""


class InvalidCursor(ValueError):
    """A list cursor that this store did not produce for this query."""


class SendRejected(Exception):
    """SES refused this message for good (or kept throttling after every retry)."""


class SendThrottled(SendRejected):
    """SES refused the message for its sending rate (after the client's own retries):
    it was not sent, and may be sent later. Callers that send at once treat it as a
    refusal (a ``SendRejected``); the sender function puts the message back in its queue."""
