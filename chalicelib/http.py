"""HTTP plumbing shared by the routes: the one place where domain errors become HTTP
responses, JSON bodies are read, and the body-size limit is enforced."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from chalice.app import CaseInsensitiveMapping, Request, Response

from chalicelib.errors import (
    Conflict,
    DomainError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from chalicelib.observability import logger

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    ValidationFailed: 400,
    Unauthorized: 401,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    RateLimited: 429,
    Unavailable: 503,
}
JSON_HEADERS = {"Content-Type": "application/json"}


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    headers: dict[str, str | list[str]] = dict(JSON_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="sobre"'
    if status == 503:
        headers["Retry-After"] = "1"
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(body=body, status_code=status, headers=headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged: dict[str, str | list[str]] = {**JSON_HEADERS, **(headers or {})}
    return Response(body=body, status_code=status, headers=merged)


def _is_dependency_failure(exc: Exception) -> bool:
    # botocore / pynamodb errors that survived their own retries: the client may retry.
    return type(exc).__module__.split(".")[0] in {"botocore", "pynamodb", "urllib3"}


def json_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Wraps a route so that every failure answers with the JSON error shape."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return view(*args, **kwargs)
        except DomainError as exc:
            status = STATUS_BY_ERROR.get(type(exc), 400)
            response = error_response(status, exc.code, exc.message, exc.details)
            if isinstance(exc, RateLimited):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except Exception as exc:
            if _is_dependency_failure(exc):
                logger.exception("dependency failure")
                return error_response(
                    503, "unavailable", "A backing service is unavailable; retry shortly."
                )
            logger.exception("unhandled error")
            return error_response(500, "internal", "Something went wrong on our side.")

    return wrapper


def read_json(request: Request, max_bytes: int) -> Any:
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > max_bytes:
        raise PayloadTooLarge(
            f"The body is {len(raw)} bytes; the limit is {max_bytes}.",
            {"limit_bytes": max_bytes, "size_bytes": len(raw)},
        )
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The body is not valid JSON.", [{"field": "", "message": str(exc)}]
        ) from exc


# Routes that answer a binary body whatever the client's Accept header says.
BINARY_ROUTES = frozenset({"/t/{token}", "/v/{token}/pdf"})


def accept_binary_routes(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware: let the pixel answer its GIF to any Accept header.

    Chalice answers 400 when a binary body is returned to a request whose Accept
    header names no binary type (API Gateway would otherwise send base64 text). Mail
    clients send ``*/*``, ``image/*``, browser lists or no Accept at all, and the pixel
    must answer every one of them. So, for the pixel route only, the request is
    treated as accepting ``image/gif``. The deployed API declares ``*/*`` as a binary
    media type (infra/template.yaml), so API Gateway decodes the base64 body for any
    Accept; ``chalice local`` decodes it by the response's Content-Type.
    See docs/DESIGN.md, "The pixel and binary responses".
    """
    if request.context.get("resourcePath") in BINARY_ROUTES:
        headers = {name: request.headers[name] for name in request.headers}
        headers["accept"] = "image/gif"
        request.headers = CaseInsensitiveMapping(headers)
    return get_response(request)


# -- The client's address, for the failed-authentication limit (auth.py) -----

# Set around every HTTP request by ``remember_client_address``; read by
# ``container.authenticate``, so that no route has to pass it along.
CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("client_address", default=None)


def remember_client_address(
    request: Request, get_response: Callable[[Request], Response]
) -> Response:
    """HTTP middleware: the request's source address (API Gateway's, never a header a
    client could forge) for the length of the request."""
    identity = (request.context or {}).get("identity") or {}
    token = CLIENT_ADDRESS.set(identity.get("sourceIp"))
    try:
        return get_response(request)
    finally:
        CLIENT_ADDRESS.reset(token)
