"""The public door's translation (chalicelib/tracking/door.py): payload 2.0 and function
URL events, and an Application Load Balancer's, into the REST API's proxy event the Chalice
app routes, and back."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from chalicelib.tracking import door

ROUTES = ("/t/{token}", "/v/{token}", "/v/{token}/seen", "/v/{token}/pdf", "/invoices/{id}")


def v2_event(method: str, path: str, **extra: Any) -> dict[str, Any]:
    """A payload 2.0 event as an HTTP API or a function URL sends it."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"user-agent": "Mail/3826", "accept": "*/*"},
        "requestContext": {
            "requestId": "req-1",
            "stage": "$default",
            "domainName": "t.example.com",
            "http": {"method": method, "path": path, "sourceIp": "198.51.100.7"},
        },
        "isBase64Encoded": False,
    }
    event.update(extra)
    return event


def test_a_path_matches_its_public_route_with_its_parameters() -> None:
    assert door.match_route("/t/abc.gif", ROUTES) == ("/t/{token}", {"token": "abc.gif"})
    assert door.match_route("/v/abc", ROUTES) == ("/v/{token}", {"token": "abc"})
    assert door.match_route("/v/abc/seen", ROUTES) == ("/v/{token}/seen", {"token": "abc"})
    assert door.match_route("/v/abc/pdf", ROUTES) == ("/v/{token}/pdf", {"token": "abc"})


def test_a_literal_segment_wins_over_a_parameter() -> None:
    routes = ("/v/{token}/{part}", "/v/{token}/seen")
    assert door.match_route("/v/abc/seen", routes) == ("/v/{token}/seen", {"token": "abc"})
    assert door.match_route("/v/abc/x", routes) == (
        "/v/{token}/{part}",
        {"token": "abc", "part": "x"},
    )


def test_only_public_paths_match() -> None:
    # The JSON API stays behind the REST API and its keys.
    assert door.match_route("/invoices/inv_1", ROUTES) is None
    assert door.match_route("/", ROUTES) is None
    assert door.match_route("/t/", ROUTES) is None  # an empty parameter
    assert door.match_route("/t/a/b", ROUTES) is None
    assert door.match_route("/tx/abc", ROUTES) is None


def test_the_rest_event_carries_method_headers_address_and_body() -> None:
    body = base64.b64encode(b'{"nonce": "n"}').decode()
    event = v2_event(
        "POST",
        "/v/tok/seen",
        rawQueryString="a=1&a=2&b=",
        cookies=["x=1", "y=2"],
        body=body,
        isBase64Encoded=True,
    )
    rest = door.rest_event(event, "/v/{token}/seen", {"token": "tok"})
    assert rest["httpMethod"] == rest["requestContext"]["httpMethod"] == "POST"
    assert rest["requestContext"]["resourcePath"] == rest["resource"] == "/v/{token}/seen"
    assert rest["pathParameters"] == {"token": "tok"}
    assert rest["requestContext"]["identity"]["sourceIp"] == "198.51.100.7"
    assert rest["requestContext"]["identity"]["userAgent"] == "Mail/3826"
    assert rest["requestContext"]["requestId"] == "req-1"
    assert rest["headers"]["cookie"] == "x=1; y=2"
    assert rest["multiValueHeaders"]["user-agent"] == ["Mail/3826"]
    assert rest["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert rest["queryStringParameters"] == {"a": "2", "b": ""}
    assert (rest["body"], rest["isBase64Encoded"]) == (body, True)


def test_no_query_string_is_none_as_in_the_rest_api() -> None:
    rest = door.rest_event(v2_event("GET", "/t/x"), "/t/{token}", {"token": "x"})
    assert rest["multiValueQueryStringParameters"] is None
    assert rest["queryStringParameters"] is None


def test_the_answer_becomes_a_2_0_response() -> None:
    answer = door.v2_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/gif", "Cache-Control": "no-store"},
            "multiValueHeaders": {"Vary": ["Accept", "Origin"], "Set-Cookie": ["a=1", "b=2"]},
            "body": "R0lGODlh",
            "isBase64Encoded": True,
        }
    )
    assert answer == {
        "statusCode": 200,
        "headers": {
            "content-type": "image/gif",
            "cache-control": "no-store",
            "vary": "Accept, Origin",
        },
        "cookies": ["a=1", "b=2"],
        "body": "R0lGODlh",
        "isBase64Encoded": True,
    }


def test_serve_routes_public_paths_to_the_app_and_refuses_the_rest() -> None:
    seen: list[dict[str, Any]] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 204, "headers": {}, "multiValueHeaders": {}, "body": ""}

    answer = door.serve(app, ROUTES, v2_event("HEAD", "/t/abc.gif"), None)
    assert answer["statusCode"] == 204
    assert [e["requestContext"]["resourcePath"] for e in seen] == ["/t/{token}"]
    assert seen[0]["httpMethod"] == "HEAD"
    refused = door.serve(app, ROUTES, v2_event("GET", "/invoices/inv_1"), None)
    assert refused["statusCode"] == 404
    assert len(seen) == 1  # the app never saw it


def alb_event(method: str, path: str, multi_value: bool, **extra: Any) -> dict[str, Any]:
    """An event as an ALB's Lambda target group sends it (AWS's "Lambda functions as
    targets" guide): no request id or source address of its own, the client in
    X-Forwarded-For, the query string still percent-encoded."""
    headers = {
        "host": "t.example.com",
        "user-agent": "Mail/3826",
        "x-amzn-trace-id": "Root=1-5bdb40ca-556d8b0c50dc66f0511bf520",
        "x-forwarded-for": "192.0.2.1, 198.51.100.7",  # a claimed hop, then the peer
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    query = {"q": "a%20b+c", "n": "1"}
    event: dict[str, Any] = {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                "targetgroup/sobre-door/6d0ecf831eec9f09"
            }
        },
        "httpMethod": method,
        "path": path,
        "body": "",
        "isBase64Encoded": False,
    }
    if multi_value:
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        event["multiValueQueryStringParameters"] = {"q": ["a%20b+c"], "n": ["1", "2"]}
    else:
        event["headers"] = headers
        event["queryStringParameters"] = query
    event.update(extra)
    return event


@pytest.mark.parametrize("multi_value", [True, False])
def test_an_alb_event_becomes_the_same_rest_event(multi_value: bool) -> None:
    event = alb_event("GET", "/t/tok.gif", multi_value)
    assert door.is_alb_event(event)
    assert not door.is_alb_event(v2_event("GET", "/t/tok.gif"))
    rest = door.rest_event_from_alb(event, "/t/{token}", {"token": "tok.gif"})
    assert rest["httpMethod"] == rest["requestContext"]["httpMethod"] == "GET"
    assert rest["resource"] == rest["requestContext"]["resourcePath"] == "/t/{token}"
    assert rest["pathParameters"] == {"token": "tok.gif"}
    # The peer the ALB saw, not the address the client claimed first.
    assert rest["requestContext"]["identity"]["sourceIp"] == "198.51.100.7"
    assert rest["requestContext"]["identity"]["userAgent"] == "Mail/3826"
    assert rest["requestContext"]["requestId"].startswith("Root=1-")
    assert rest["requestContext"]["domainName"] == "t.example.com"
    assert rest["headers"]["x-forwarded-for"] == "192.0.2.1, 198.51.100.7"
    # Decoded as API Gateway decodes a query string.
    assert rest["queryStringParameters"]["q"] == "a b c"
    expected_n = ["1", "2"] if multi_value else ["1"]
    assert rest["multiValueQueryStringParameters"]["n"] == expected_n
    assert rest["body"] is None  # an ALB sends "" for no body; the REST API None


def test_an_alb_event_without_forwarded_for_has_no_address() -> None:
    event = alb_event("GET", "/t/tok.gif", False)
    del event["headers"]["x-forwarded-for"]
    rest = door.rest_event_from_alb(event, "/t/{token}", {"token": "tok.gif"})
    assert rest["requestContext"]["identity"]["sourceIp"] is None


def test_several_forwarded_for_lines_end_with_the_peer() -> None:
    event = alb_event("GET", "/t/tok.gif", True)
    event["multiValueHeaders"]["x-forwarded-for"] = ["10.0.0.1", "192.0.2.1, 198.51.100.9"]
    rest = door.rest_event_from_alb(event, "/t/{token}", {"token": "tok.gif"})
    assert rest["requestContext"]["identity"]["sourceIp"] == "198.51.100.9"


ANSWER = {
    "statusCode": 200,
    "headers": {"Content-Type": "image/gif"},
    "multiValueHeaders": {"Vary": ["Accept", "Origin"], "Set-Cookie": ["a=1", "b=2"]},
    "body": "R0lGODlh",
    "isBase64Encoded": True,
}


def test_the_answer_becomes_an_alb_response_with_a_status_line() -> None:
    multi = door.alb_response(ANSWER, multi_value=True)
    assert multi == {
        "statusCode": 200,
        "statusDescription": "200 OK",
        "multiValueHeaders": {
            "content-type": ["image/gif"],
            "vary": ["Accept", "Origin"],
            "set-cookie": ["a=1", "b=2"],
        },
        "body": "R0lGODlh",
        "isBase64Encoded": True,
    }
    single = door.alb_response(ANSWER, multi_value=False)
    assert single["headers"] == {
        "content-type": "image/gif",
        "vary": "Accept, Origin",
        "set-cookie": "b=2",
    }
    assert "multiValueHeaders" not in single
    assert door.alb_response({"statusCode": 415}, True)["statusDescription"] == (
        "415 Unsupported Media Type"
    )
    assert door.alb_response({"statusCode": 599}, True)["statusDescription"] == "599"


@pytest.mark.parametrize("multi_value", [True, False])
def test_serve_answers_an_alb_in_its_own_shape(multi_value: bool) -> None:
    seen: list[dict[str, Any]] = []

    def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 204, "headers": {"X-A": "1"}, "body": ""}

    answer = door.serve(app, ROUTES, alb_event("POST", "/v/tok/seen", multi_value), None)
    assert answer["statusDescription"] == "204 No Content"
    assert ("multiValueHeaders" in answer) is multi_value
    assert [e["resource"] for e in seen] == ["/v/{token}/seen"]
    refused = door.serve(app, ROUTES, alb_event("GET", "/invoices", multi_value), None)
    assert refused["statusCode"] == 404
    assert refused["statusDescription"] == "404 Not Found"
    assert len(seen) == 1  # the app never saw it
