"""The public door on this machine: each HTTP request turned into the event an HTTP API
(payload 2.0) or an Application Load Balancer passes to the ``public_door`` function,
and the function's answer written back as they would. Development only; never deployed.

    python -m infra.local_door --port 8001 --kind load-balancer   # make run starts one

So the door's own code (chalicelib/tracking/door.py: routing, the event shapes, the
client address taken from X-Forwarded-For) runs locally as it runs in AWS, with curl or
a browser in front of it, while ``chalice local`` keeps serving the REST API's shape at
the API's port. ``SOBRE_LOCAL_DOOR`` picks the kind for ``make run`` (``http-api`` by
default, as the template's ``PublicDoorKind``).
"""

from __future__ import annotations

import argparse
import base64
import sys
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The kinds of door (the template's PublicDoorKind), and what each is.
KINDS = {"http-api": "an HTTP API", "load-balancer": "a load balancer"}
# What the target group's ARN would be; the app never reads it.
TARGET_GROUP_ARN = (
    "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/sobre-local-door/0"
)

Invoke = Callable[[dict[str, Any]], Any]


def _body_field(body: bytes) -> tuple[str, bool]:
    """The body as both doors pass it: text when it is UTF-8, else base64."""
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def http_api_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, client: str
) -> dict[str, Any]:
    """As an HTTP API sends it (payload 2.0): one value per header (repeats joined with
    commas), cookies apart, the address the connection came from."""
    path, _, query = target.partition("?")
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    cookie = joined.pop("cookie", "")
    text, encoded = _body_field(body)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": joined,
        "requestContext": {
            "domainName": joined.get("host", "localhost"),
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": client,
                "userAgent": joined.get("user-agent", ""),
            },
        },
        "isBase64Encoded": encoded,
    }
    if cookie:
        event["cookies"] = [part.strip() for part in cookie.split(";") if part.strip()]
    if body:
        event["body"] = text
    return event


def load_balancer_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, client: str
) -> dict[str, Any]:
    """As the template's ALB target group sends it (multi-value headers on): headers and
    query values as lists, the query still percent-encoded, the connection's address
    appended to X-Forwarded-For, a trace id of its own."""
    path, _, query = target.partition("?")
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value)
    forwarded = values.pop("x-forwarded-for", [])
    values["x-forwarded-for"] = [", ".join([*forwarded, client])]
    values.setdefault("x-forwarded-proto", ["http"])
    values["x-amzn-trace-id"] = [f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"]
    params: dict[str, list[str]] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        params.setdefault(key, []).append(value)
    text, encoded = _body_field(body)
    return {
        "requestContext": {"elb": {"targetGroupArn": TARGET_GROUP_ARN}},
        "httpMethod": method,
        "path": path,
        "multiValueQueryStringParameters": params,
        "multiValueHeaders": values,
        "body": text,
        "isBase64Encoded": encoded,
    }


def answer_headers(answer: dict[str, Any]) -> list[tuple[str, str]]:
    """The response headers either door writes from the function's answer."""
    written = [(str(k), str(v)) for k, v in (answer.get("headers") or {}).items()]
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        written.extend((str(name), str(v)) for v in values)
    written.extend(("set-cookie", str(c)) for c in answer.get("cookies") or [])
    return written


def answer_body(answer: dict[str, Any]) -> bytes:
    body = str(answer.get("body") or "")
    return base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode("utf-8")


def handler_class(kind: str, invoke: Invoke) -> type[BaseHTTPRequestHandler]:
    build = load_balancer_event if kind == "load-balancer" else http_api_event

    class DoorHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            client = self.client_address[0]
            event = build(self.command, self.path, self.headers.items(), body, client)
            try:
                answer = invoke(event)
            except Exception as exc:  # the function failed: both doors answer 502
                sys.stderr.write(f"door: public_door failed: {exc!r}\n")
                answer = {"statusCode": 502, "headers": {"content-type": "text/plain"}, "body": ""}
            payload = answer_body(answer)
            self.send_response(int(answer.get("statusCode", 200)))
            for name, value in answer_headers(answer):
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"door: {format % args}\n")

    return DoorHandler


def main(argv: list[str] | None = None) -> int:
    from infra.sns_bridge import app_invoker

    parser = argparse.ArgumentParser(prog="python -m infra.local_door", description=__doc__)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--kind", choices=list(KINDS), default="http-api")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), handler_class(args.kind, app_invoker("public_door"))
    )
    server.daemon_threads = True
    print(f"Public door ({args.kind}) on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
