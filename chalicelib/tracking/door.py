"""The public door: the pixel and the hosted invoice served from an HTTP API (payload
format 2.0), a Lambda function URL (the same event shape) or an Application Load
Balancer (its own shape, ``requestContext.elb``), through the very Chalice app that
``chalice local`` and the REST API run.

A door's event is rewritten into the REST API's proxy event (1.0) for the route its path
matches, the app answers it, and its answer is rewritten into the door's response. Only the
public routes (``/t/…``, ``/v/…``) are served here; any other path is a 404 without
calling the app, so the JSON API stays behind the REST API and its API keys. A function
URL has no routes of its own (every path reaches the function), which is why the path is
matched here rather than taken from the event's ``routeKey``. docs/DESIGN.md, "The
public door".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus

# The paths of the public blueprint (chalicelib/tracking/routes.py).
PUBLIC_PREFIXES = ("/t/", "/v/")
# Any other path, answered without calling the app (payload 1.0, as the app answers).
_NOT_FOUND: dict[str, Any] = {
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


def _proxy_event(
    *,
    route: str,
    params: dict[str, str],
    method: str,
    path: str,
    headers: dict[str, str],
    query: dict[str, list[str]] | None,
    source_ip: str | None,
    request_id: str | None,
    domain_name: str | None,
    user_agent: str | None,
    stage: str,
    body: str | None,
    is_base64: bool,
    stage_variables: Any = None,
) -> dict[str, Any]:
    """The REST API proxy event (payload 1.0) for one request, whichever door it came by."""
    return {
        "resource": route,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None if query is None else {k: v[-1] for k, v in query.items()},
        "multiValueQueryStringParameters": query,
        "pathParameters": params,
        "stageVariables": stage_variables,
        "requestContext": {
            "resourcePath": route,
            "httpMethod": method,
            "path": path,
            "stage": stage,
            "requestId": request_id,
            "domainName": domain_name,
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def rest_event(event: Mapping[str, Any], route: str, params: dict[str, str]) -> dict[str, Any]:
    """The REST API proxy event that carries the same request as a payload 2.0 event."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    cookies = event.get("cookies") or []
    if cookies:  # payload 2.0 moves Cookie headers out of `headers`
        headers["cookie"] = "; ".join(cookies)
    return _proxy_event(
        route=route,
        params=params,
        method=str(http.get("method") or "GET").upper(),
        path=str(event.get("rawPath") or http.get("path") or "/"),
        headers=headers,
        query=_multi_query(str(event.get("rawQueryString") or "")),
        source_ip=http.get("sourceIp"),
        request_id=context.get("requestId"),
        domain_name=context.get("domainName"),
        user_agent=http.get("userAgent") or headers.get("user-agent"),
        stage=str(context.get("stage", "$default")),
        body=event.get("body"),
        is_base64=bool(event.get("isBase64Encoded", False)),
        stage_variables=event.get("stageVariables"),
    )


def _alb_headers(event: Mapping[str, Any]) -> dict[str, list[str]]:
    """An ALB event's headers, one list per lower-case name, in either of its modes
    (the target group's ``lambda.multi_value_headers.enabled``)."""
    multi = event.get("multiValueHeaders")
    if multi is not None:
        return {str(k).lower(): [str(v) for v in vs] for k, vs in multi.items()}
    return {str(k).lower(): [str(v)] for k, v in (event.get("headers") or {}).items()}


def _alb_query(event: Mapping[str, Any]) -> dict[str, list[str]] | None:
    """An ALB passes the query string's names and values as they came, still
    percent-encoded (API Gateway decodes them); decoded here as API Gateway would."""
    multi = event.get("multiValueQueryStringParameters")
    pairs: dict[str, list[str]] = {}
    if multi is not None:
        for key, values in multi.items():
            pairs.setdefault(unquote_plus(str(key)), []).extend(
                unquote_plus(str(v)) for v in values
            )
    else:
        for key, value in (event.get("queryStringParameters") or {}).items():
            pairs.setdefault(unquote_plus(str(key)), []).append(unquote_plus(str(value)))
    return pairs or None


def _alb_client_address(forwarded_for: list[str]) -> str | None:
    """The address the load balancer saw: the last entry of X-Forwarded-For, which the
    ALB appends; anything before it is whatever the client claimed, never trusted."""
    entries = [part.strip() for line in forwarded_for for part in line.split(",")]
    entries = [entry for entry in entries if entry]
    return entries[-1] if entries else None


def is_alb_event(event: Mapping[str, Any]) -> bool:
    return "elb" in (event.get("requestContext") or {})


def rest_event_from_alb(
    event: Mapping[str, Any], route: str, params: dict[str, str]
) -> dict[str, Any]:
    """The REST API proxy event that carries the same request as an ALB event."""
    headers = _alb_headers(event)
    single = {name: values[-1] for name, values in headers.items() if values}
    if "x-forwarded-for" in headers:  # every hop, in order, as one header
        single["x-forwarded-for"] = ", ".join(headers["x-forwarded-for"])
    return _proxy_event(
        route=route,
        params=params,
        method=str(event.get("httpMethod") or "GET").upper(),
        path=str(event.get("path") or "/"),
        headers=single,
        query=_alb_query(event),
        source_ip=_alb_client_address(headers.get("x-forwarded-for", [])),
        request_id=single.get("x-amzn-trace-id"),
        domain_name=single.get("host"),
        user_agent=single.get("user-agent"),
        stage="$default",
        body=event.get("body") or None,
        is_base64=bool(event.get("isBase64Encoded", False)),
    )


def _header_lists(response: Mapping[str, Any]) -> dict[str, list[str]]:
    """The app's answer's headers, one list per lower-case name, from both its
    ``headers`` and its ``multiValueHeaders``."""
    lists: dict[str, list[str]] = {}
    singles = (response.get("headers") or {}).items()
    multis = (response.get("multiValueHeaders") or {}).items()
    for name, values in [*((n, [v]) for n, v in singles), *multis]:
        lists.setdefault(str(name).lower(), []).extend(str(v) for v in values)
    return {name: values for name, values in lists.items() if values}


def _joined(lists: dict[str, list[str]]) -> dict[str, str]:
    """One value per header: repeated headers joined with commas (RFC 9110), which
    Set-Cookie alone does not allow (the callers carry it apart)."""
    return {name: ", ".join(values) for name, values in lists.items() if name != "set-cookie"}


def v2_response(response: Mapping[str, Any]) -> dict[str, Any]:
    """The app's answer (payload 1.0 shape) as a payload 2.0 response: 2.0 has no
    ``multiValueHeaders``, so repeated headers are joined, except Set-Cookie, which 2.0
    carries as ``cookies``."""
    lists = _header_lists(response)
    answer: dict[str, Any] = {
        "statusCode": int(response.get("statusCode", 200)),
        "headers": _joined(lists),
        "body": response.get("body") or "",
        "isBase64Encoded": bool(response.get("isBase64Encoded", False)),
    }
    if lists.get("set-cookie"):
        answer["cookies"] = lists["set-cookie"]
    return answer


def alb_response(response: Mapping[str, Any], multi_value: bool) -> dict[str, Any]:
    """The app's answer as an ALB's Lambda target answers: a status line of its own
    (``statusDescription``), and ``multiValueHeaders`` when the target group sends them
    (the ALB then reads only those). In the single-value mode only the last Set-Cookie
    survives; the template turns multi-value on."""
    from http import HTTPStatus  # here: the other doors' cold start never needs it

    status = int(response.get("statusCode", 200))
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lists = _header_lists(response)
    answer: dict[str, Any] = {
        "statusCode": status,
        "statusDescription": f"{status} {phrase}".strip(),
        "body": response.get("body") or "",
        "isBase64Encoded": bool(response.get("isBase64Encoded", False)),
    }
    if multi_value:
        answer["multiValueHeaders"] = lists
    else:
        answer["headers"] = _joined(lists)
        if lists.get("set-cookie"):
            answer["headers"]["set-cookie"] = lists["set-cookie"][-1]
    return answer


def serve(app: RestHandler, routes: Iterable[str], event: Mapping[str, Any], context: Any) -> Any:
    """One request through the door: routed, answered by ``app`` (the Chalice app), in
    the shape of the door it came by."""
    to_rest: Callable[[Mapping[str, Any], str, dict[str, str]], dict[str, Any]]
    respond: Callable[[Mapping[str, Any]], dict[str, Any]]
    if is_alb_event(event):
        multi_value = event.get("multiValueHeaders") is not None
        path = str(event.get("path") or "")
        to_rest, respond = rest_event_from_alb, lambda answer: alb_response(answer, multi_value)
    else:
        http = (event.get("requestContext") or {}).get("http", {})
        path = str(event.get("rawPath") or http.get("path") or "")
        to_rest, respond = rest_event, v2_response
    matched = match_route(path, routes)
    if matched is None:
        return respond(_NOT_FOUND)
    return respond(app(to_rest(event, *matched), context))
