"""The public door (app.public_door: payload 2.0, as the HTTP API and a function URL send
it, and an Application Load Balancer's events) through the real app against moto: the
pixel counts, the hosted page is viewed, its beacon is recorded, and nothing else is
served."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from chalice.test import Client

from tests.integration.conftest import HUMAN_UA, Stack, auth
from tests.integration.test_hosted_invoice import beacon_nonce, pixel_path, send, view_path

GIF_HEAD = b"GIF89a"


class LambdaContext:
    """What Powertools' Logger reads of Lambda's context."""

    function_name = "sobre-prod-PublicDoor"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    memory_limit_in_mb = 512
    aws_request_id = "req-door"
    log_group_name = log_stream_name = "test"


def v2_event(
    method: str,
    path: str,
    route_key: str = "$default",
    headers: dict[str, str] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    """As an HTTP API (route_key "GET /t/{token}") or a function URL ("$default") sends
    it: lower-case headers, the source address in requestContext.http."""
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"user-agent": HUMAN_UA, "accept": "image/webp,*/*", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "t.example.com",
            "requestId": str(uuid.uuid4()),
            "stage": "$default",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": HUMAN_UA,
            },
        },
        "body": body,
        "isBase64Encoded": False,
    }


def alb_event(
    method: str, path: str, headers: dict[str, str] | None = None, body: str = ""
) -> dict[str, Any]:
    """As the template's ALB target group sends it (multi-value headers on): the client
    the load balancer saw last in X-Forwarded-For, no source address of its own."""
    sent = {
        "host": "t.example.com",
        "user-agent": HUMAN_UA,
        "accept": "image/webp,*/*",
        "x-amzn-trace-id": f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}",
        "x-forwarded-for": "192.0.2.200, 203.0.113.9",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    return {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/sobre-prod-door/50dc6c495c0c9188"
            }
        },
        "httpMethod": method,
        "path": path,
        "multiValueQueryStringParameters": {},
        "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "body": body,
        "isBase64Encoded": False,
    }


def through_the_door(event: dict[str, Any]) -> dict[str, Any]:
    from app import public_door

    answer: dict[str, Any] = public_door(event, LambdaContext())
    return answer


def recipient(client: Client, key: str, invoice_id: str) -> dict[str, Any]:
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    return dict(detail["recipients"][0])


@pytest.mark.parametrize("route_key", ["GET /t/{token}", "$default"])
def test_the_pixel_through_the_door_answers_the_gif_and_counts(
    client: Client, api_key: str, stack: Stack, route_key: str
) -> None:
    invoice_id = send(client, api_key)["id"]
    answer = through_the_door(v2_event("GET", pixel_path(stack), route_key))
    assert answer["statusCode"] == 200
    assert answer["isBase64Encoded"] is True
    assert base64.b64decode(answer["body"]).startswith(GIF_HEAD)
    assert answer["headers"]["content-type"] == "image/gif"
    assert answer["headers"]["cache-control"].startswith("no-store")
    assert "multiValueHeaders" not in answer  # payload 2.0 has none
    ana = recipient(client, api_key, invoice_id)
    assert (ana["open_count"], ana["status"]) == (1, "opened")
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    (opened,) = [e for e in events["items"] if e["type"] == "open"]
    assert opened["details"]["ip"] == "203.0.113.0/24"  # the door's source address


def test_head_and_forged_pixels_answer_without_counting(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key)["id"]
    path = pixel_path(stack)
    head = through_the_door(v2_event("HEAD", path, "HEAD /t/{token}"))
    assert head["statusCode"] == 200
    assert head["headers"]["content-type"] == "image/gif"
    assert head["body"] == ""
    forged = through_the_door(v2_event("GET", path[:-8] + "AAAA.gif"))
    assert forged["statusCode"] == 200
    assert base64.b64decode(forged["body"]).startswith(GIF_HEAD)
    # As behind the REST API: a HEAD is no display, a forged token no open.
    assert recipient(client, api_key, invoice_id)["open_count"] == 0


def test_the_hosted_page_and_its_beacon_through_the_door(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key)["id"]
    path = view_path(stack)
    page = through_the_door(v2_event("GET", path, "GET /v/{token}", {"accept": "text/html"}))
    assert page["statusCode"] == 200
    assert page["headers"]["content-type"].startswith("text/html")
    assert "INV-2026-001" in page["body"]
    body = json.dumps({"trigger": "visible", "nonce": beacon_nonce(page["body"])})
    seen = through_the_door(
        v2_event(
            "POST",
            f"{path}/seen",
            "POST /v/{token}/seen",
            {"content-type": "application/json"},
            body,
        )
    )
    assert seen["statusCode"] == 204
    assert recipient(client, api_key, invoice_id)["status"] == "viewed"
    # The beacon takes JSON only: the same 415 as behind the REST API.
    refused = through_the_door(
        v2_event("POST", f"{path}/seen", headers={"content-type": "text/plain"}, body="x")
    )
    assert refused["statusCode"] == 415
    assert json.loads(refused["body"])["error"]["code"] == "unsupported_media_type"


def test_the_json_api_is_not_behind_the_door(client: Client, api_key: str) -> None:
    answer = through_the_door(
        v2_event("GET", "/invoices", headers={"authorization": f"Bearer {api_key}"})
    )
    assert answer["statusCode"] == 404
    assert "items" not in answer["body"]


def test_a_method_a_route_lacks_is_sobres_405(client: Client, stack: Stack) -> None:
    answer = through_the_door(v2_event("DELETE", "/t/whatever.gif"))
    assert answer["statusCode"] == 405
    assert json.loads(answer["body"])["error"]["code"] == "method_not_allowed"


def test_the_pixel_through_a_load_balancer_counts_its_peer(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key)["id"]
    pixel = through_the_door(alb_event("GET", pixel_path(stack)))
    assert (pixel["statusCode"], pixel["statusDescription"]) == (200, "200 OK")
    assert pixel["isBase64Encoded"] is True
    assert base64.b64decode(pixel["body"]).startswith(GIF_HEAD)
    assert pixel["multiValueHeaders"]["content-type"] == ["image/gif"]
    assert "headers" not in pixel  # the ALB reads multiValueHeaders alone in this mode
    ana = recipient(client, api_key, invoice_id)
    assert (ana["open_count"], ana["status"]) == (1, "opened")
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    (opened,) = [e for e in events["items"] if e["type"] == "open"]
    # The peer the ALB saw (the last hop), not the address the client claimed.
    assert opened["details"]["ip"] == "203.0.113.0/24"


def test_the_page_and_its_beacon_through_a_load_balancer(
    client: Client, api_key: str, stack: Stack
) -> None:
    # A pixel, the page and its beacon within 0.1 s are one burst, a link scanner's
    # pattern (chalicelib/recording.py re-judges it), hence a fresh invoice here.
    invoice_id = send(client, api_key)["id"]
    path = view_path(stack)
    page = through_the_door(alb_event("GET", path, {"accept": "text/html"}))
    assert page["statusCode"] == 200
    assert "INV-2026-001" in page["body"]
    body = json.dumps({"trigger": "visible", "nonce": beacon_nonce(page["body"])})
    seen = through_the_door(
        alb_event("POST", f"{path}/seen", {"content-type": "application/json"}, body)
    )
    assert (seen["statusCode"], seen["statusDescription"]) == (204, "204 No Content")
    assert recipient(client, api_key, invoice_id)["status"] == "viewed"
    refused = through_the_door(
        alb_event("GET", "/invoices", {"authorization": f"Bearer {api_key}"})
    )
    assert (refused["statusCode"], refused["statusDescription"]) == (404, "404 Not Found")
