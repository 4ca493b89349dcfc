"""The local stack's door (infra/local_door.py): a real request becomes the event an HTTP
API or the template's load balancer would send, which the door's code then reads as in
AWS (chalicelib/tracking/door.py)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from chalicelib.tracking import door
from infra import local_door

ROUTES = ("/t/{token}", "/v/{token}", "/v/{token}/seen")
HEADERS = [
    ("Host", "localhost:8001"),
    ("User-Agent", "Mail/3826"),
    ("Accept", "image/*"),
    ("Accept", "*/*"),
    ("Cookie", "a=1; b=2"),
]


def through(kind: str, method: str, target: str, **extra: Any) -> dict[str, Any]:
    """The REST event the app gets for one request through the local door of ``kind``."""
    build = local_door.load_balancer_event if kind == "load-balancer" else local_door.http_api_event
    headers = [*HEADERS, *extra.get("headers", [])]
    event = build(method, target, headers, extra.get("body", b""), "127.0.0.1")
    seen: list[dict[str, Any]] = []

    def app(rest: dict[str, Any], _context: Any) -> dict[str, Any]:
        seen.append(rest)
        return {"statusCode": 200, "headers": {}, "body": ""}

    door.serve(app, ROUTES, event, None)
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("kind", local_door.KINDS)
def test_a_request_reaches_the_app_as_through_the_real_door(kind: str) -> None:
    rest = through(kind, "GET", "/t/tok.gif?q=a%20b&q=c")
    assert rest["resource"] == "/t/{token}"
    assert rest["pathParameters"] == {"token": "tok.gif"}
    assert rest["multiValueQueryStringParameters"] == {"q": ["a b", "c"]}
    assert rest["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert rest["requestContext"]["identity"]["userAgent"] == "Mail/3826"
    assert rest["headers"]["cookie"].replace(" ", "") == "a=1;b=2"
    assert rest["headers"]["accept"] in ("image/*,*/*", "*/*")  # joined, or the last


def test_the_load_balancer_appends_the_peer_to_what_the_client_claimed() -> None:
    rest = through("load-balancer", "GET", "/t/tok.gif", headers=[("X-Forwarded-For", "192.0.2.9")])
    assert rest["headers"]["x-forwarded-for"] == "192.0.2.9, 127.0.0.1"
    assert rest["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert rest["requestContext"]["requestId"].startswith("Root=1-")


@pytest.mark.parametrize("kind", local_door.KINDS)
def test_a_body_is_text_when_it_can_be_and_base64_when_not(kind: str) -> None:
    text = through(kind, "POST", "/v/tok/seen", body=b'{"nonce": "n"}')
    assert (text["body"], text["isBase64Encoded"]) == ('{"nonce": "n"}', False)
    binary = through(kind, "POST", "/v/tok/seen", body=b"\xff\x00")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == b"\xff\x00"


def test_the_answer_is_written_from_either_shape() -> None:
    gif = base64.b64encode(b"GIF89a").decode()
    alb = {
        "statusCode": 200,
        "multiValueHeaders": {"content-type": ["image/gif"], "vary": ["a", "b"]},
        "body": gif,
        "isBase64Encoded": True,
    }
    v2 = {"statusCode": 200, "headers": {"content-type": "text/html"}, "cookies": ["s=1"]}
    assert local_door.answer_headers(alb) == [
        ("content-type", "image/gif"),
        ("vary", "a"),
        ("vary", "b"),
    ]
    assert local_door.answer_body(alb) == b"GIF89a"
    assert local_door.answer_headers(v2) == [("content-type", "text/html"), ("set-cookie", "s=1")]
    assert local_door.answer_body(v2) == b""
