"""The public door's translation (chalicelib/tracking/door.py): payload 2.0 and function
URL events into the REST API's proxy event the Chalice app routes, and back."""

from __future__ import annotations

import base64
from typing import Any

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
