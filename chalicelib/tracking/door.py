"""The public door: the pixel and the hosted invoice served from an HTTP API (payload
format 2.0) or a Lambda function URL (the same event shape), through the very Chalice
app that ``chalice local`` and the REST API run.

A 2.0 event is rewritten into the REST API's proxy event (1.0) for the route its path
matches, the app answers it, and its answer is rewritten into a 2.0 response. Only the
public routes (``/t/…``, ``/v/…``) are served here; any other path is a 404 without
calling the app, so the JSON API stays behind the REST API and its API keys. A function
URL has no routes of its own (every path reaches the function), which is why the path is
matched here rather than taken from the event's ``routeKey``. docs/DESIGN.md, "The
public door".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

# The paths of the public blueprint (chalicelib/tracking/routes.py).
PUBLIC_PREFIXES = ("/t/", "/v/")
_NOT_FOUND = {
    "statusCode": 404,
    "headers": {"content-type": "text/plain; charset=utf-8", "cache-control": "no-store"},
    "body": "Not found",
    "isBase64Encoded": False,
}

RestHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def match_route(path: str, routes: Iterable[str]) -> tuple[str, dict[str, str]] | None:
    """The public route template a request path is for, with its path parameters:
    ``/t/abc.gif`` → (``/t/{token}``, {"token": "abc.gif"}). A parameter is one whole,
    non-empty segment, as API Gateway matches it; a literal segment wins over a
    parameter (``/v/{token}/seen`` before a ``/v/{token}/{x}``)."""
    if not path.startswith(PUBLIC_PREFIXES):
        return None
    segments = path.split("/")[1:]
    best: tuple[int, str, dict[str, str]] | None = None
    for route in routes:
        if not route.startswith(PUBLIC_PREFIXES):
            continue
        parts = route.split("/")[1:]
        if len(parts) != len(segments):
            continue
        params: dict[str, str] = {}
        literals = 0
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    break
                params[part[1:-1]] = segment
            elif part == segment:
                literals += 1
            else:
                break
        else:
            if best is None or literals > best[0]:
                best = (literals, route, params)
    return None if best is None else (best[1], best[2])


def _multi_query(raw: str) -> dict[str, list[str]] | None:
    values = parse_qs(raw, keep_blank_values=True) if raw else {}
    return values or None


def rest_event(event: Mapping[str, Any], route: str, params: dict[str, str]) -> dict[str, Any]:
    """The REST API proxy event (payload 1.0) that carries the same request."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    cookies = event.get("cookies") or []
    if cookies:  # payload 2.0 moves Cookie headers out of `headers`
        headers["cookie"] = "; ".join(cookies)
    method = str(http.get("method") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "/")
    query = _multi_query(str(event.get("rawQueryString") or ""))
    return {
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None if query is None else {k: v[-1] for k, v in query.items()},
        "multiValueQueryStringParameters": query,
        "pathParameters": params,
        "stageVariables": event.get("stageVariables"),
        "requestContext": {
            "resourcePath": route,
            "httpMethod": method,
            "path": path,
            "stage": context.get("stage", "$default"),
            "requestId": context.get("requestId"),
            "domainName": context.get("domainName"),
            "identity": {
                "sourceIp": http.get("sourceIp"),
                "userAgent": http.get("userAgent") or headers.get("user-agent"),
            },
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded", False)),
    }


def v2_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """The app's answer (payload 1.0 shape) as a payload 2.0 response: 2.0 has no
    ``multiValueHeaders``, so repeated headers are joined with commas (RFC 9110), except
    Set-Cookie, which 2.0 carries as ``cookies``."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    singles = (response.get("headers") or {}).items()
    multis = (response.get("multiValueHeaders") or {}).items()
    for name, values in [*((n, [v]) for n, v in singles), *multis]:
        key = str(name).lower()
        texts = [str(v) for v in values]
        if key == "set-cookie":
            cookies.extend(texts)
        elif texts:
            headers[key] = ", ".join([headers[key], *texts] if key in headers else texts)
    answer: dict[str, Any] = {
        "statusCode": int(response.get("statusCode", 200)),
        "headers": headers,
        "body": response.get("body") or "",
        "isBase64Encoded": bool(response.get("isBase64Encoded", False)),
    }
    if cookies:
        answer["cookies"] = cookies
    return answer


def serve(app: RestHandler, routes: Iterable[str], event: Mapping[str, Any], context: Any) -> Any:
    """One request through the door: routed, answered by ``app`` (the Chalice app)."""
    path = str(
        event.get("rawPath")
        or (event.get("requestContext") or {}).get("http", {}).get("path")
        or ""
    )
    matched = match_route(path, routes)
    if matched is None:
        return dict(_NOT_FOUND)
    return v2_response(app(rest_event(event, *matched), context))
