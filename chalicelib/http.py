"""HTTP plumbing shared by the routes: the one place where domain errors become HTTP
responses, JSON bodies are read (bounded in size and depth), and the body-size limit is
enforced. ``sobre_errors``, the outermost middleware, makes every answer — Chalice's
own 405 and 415 included — Sobre's error shape, and no exception a 500 in Chalice's."""

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


# An error lists at most this many problems (and says how many it left out), each
# string cut to MAX_ERROR_CHARS: a body of a million bad keys must not answer with
# them all (Lambda's response limit is 6 MB, and a client needs the first few).
MAX_ERROR_DETAILS = 20
MAX_ERROR_CHARS = 200
# Deeper JSON is refused: no request body Sobre takes nests more than a few levels,
# and each level is a frame for json.loads and for everything that walks the value.
MAX_JSON_DEPTH = 32


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: Any = None
) -> Response:
    merged: dict[str, str | list[str]] = {**(headers or {}), **JSON_HEADERS}
    if status == 401:
        merged["WWW-Authenticate"] = 'Bearer realm="sobre"'
    if status == 503:
        merged["Retry-After"] = "1"
    error: dict[str, Any] = {"code": code, "message": _cut(message, 4 * MAX_ERROR_CHARS)}
    if isinstance(details, list) and len(details) > MAX_ERROR_DETAILS:
        error["omitted"] = len(details) - MAX_ERROR_DETAILS
        error["message"] += f" ({error['omitted']} more problems not listed.)"
        details = details[:MAX_ERROR_DETAILS]
    error["details"] = _capped(details)
    return Response(body={"error": error}, status_code=status, headers=merged)


def error_of(exc: DomainError) -> tuple[int, Any]:
    """The status and body a domain error answers with (a batch item's, say)."""
    response = error_response(
        STATUS_BY_ERROR.get(type(exc), 400), exc.code, exc.message, exc.details
    )
    return response.status_code, response.body


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _capped(details: Any) -> Any:
    """``details`` with every string cut (they may quote the request)."""
    if isinstance(details, str):
        return _cut(details, MAX_ERROR_CHARS)
    if isinstance(details, list):
        return [_capped(item) for item in details]
    if isinstance(details, dict):
        return {_cut(str(k), MAX_ERROR_CHARS): _capped(v) for k, v in details.items()}
    return details


def json_text(body: Any) -> str:
    """``body`` as Chalice sends a JSON answer (compact, ASCII), for an answer that must
    be measured before it is sent."""
    return json.dumps(body, separators=(",", ":"))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    merged: dict[str, str | list[str]] = {**JSON_HEADERS, **(headers or {})}
    return Response(body=body, status_code=status, headers=merged)


# The modules of AWS calls' errors: botocore's and pynamodb's, and those of the light
# JSON-protocol client (chalicelib/adapters/aws_json.py, dynamo/lite.py, http11.py).
_DEPENDENCY_MODULES = {"botocore", "pynamodb", "urllib3"}
_LIGHT_CLIENT_MODULES = {
    "chalicelib.adapters.aws_json",
    "chalicelib.adapters.dynamo.lite",
    "chalicelib.adapters.http11",
}


def _is_dependency_failure(exc: Exception) -> bool:
    # An AWS call's error that survived its own retries, or a connection that failed:
    # the client may retry.
    module = type(exc).__module__
    return (
        module.split(".")[0] in _DEPENDENCY_MODULES
        or module in _LIGHT_CLIENT_MODULES
        or isinstance(exc, ConnectionError | TimeoutError)
    )


def _is_too_large_to_store(exc: BaseException) -> bool:
    """DynamoDB refused an item for its size: retrying can never succeed."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            error = response.get("Error") or {}
            if error.get("Code") == "ValidationException" and "size" in str(
                error.get("Message", "")
            ):
                return True
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return False


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
            if _is_too_large_to_store(exc):
                logger.warning("item too large to store", exc_info=True)
                return error_response(
                    413, "payload_too_large", "The request is too large to store.", None
                )
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
    return parse_json(raw) if raw else None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """A JSON body, or ``ValidationFailed``: not UTF-8, not JSON (NaN and Infinity are
    not), nested deeper than MAX_JSON_DEPTH, or a string that is no text (a lone
    surrogate, which ``\\ud800`` spells and nothing can encode), named by its path."""
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError as exc:
        raise _invalid("", f"is nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "The body is not valid JSON.", [{"field": "", "message": _cut(str(exc), 200)}]
        ) from exc
    _check_json(value)
    return value


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed("The body is not valid JSON.", [{"field": field, "message": message}])


def _check_json(value: Any) -> None:
    """Depth and text, without recursion (a stack of what is left to see)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node, path)
        elif isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise _invalid(path, f"is nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(node, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))
                continue
            for key, item in node.items():
                where = _cut(f"{path}.{key}" if path else key, MAX_ERROR_CHARS)
                _check_text(key, where)
                stack.append((item, where, depth + 1))


def _check_text(text: str, path: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise _invalid(path, f"holds U+{bad:04X}, a lone surrogate, which is not text") from exc


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


def sobre_errors(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """HTTP middleware, registered first (outermost, inside Chalice's own handler):
    whatever happens inside — a view, Chalice's routing (405, 415), Powertools'
    middleware — the answer is Sobre's error shape, never Chalice's ``{Code, Message}``
    and never an exception Chalice turns into its own 500."""
    try:
        response = get_response(request)
    except Exception:
        logger.exception("unhandled error outside a view")
        return error_response(500, "internal", "Something went wrong on our side.")
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        status = response.status_code
        code = _FRAMEWORK_CODES.get(status, "internal" if status >= 500 else "bad_request")
        details = [{"field": "", "message": str(body["Message"])}] if status == 400 else None
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return error_response(status, code, str(body["Message"]), details, headers)
    return response


# Chalice's own answers, by status, as Sobre's error codes.
_FRAMEWORK_CODES = {
    400: "validation_failed",
    404: "not_found",
    405: "method_not_allowed",
    415: "unsupported_media_type",
    500: "internal",
}


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
