"""docs/openapi.yaml against the real API: every route is described, and the responses
the routes really produce (through Chalice's test client, against the moto server)
validate against the spec. Requests the code accepts must be valid per the spec, and
requests it refuses must be invalid per the spec, so the two cannot drift apart."""

from __future__ import annotations

import base64
import copy
import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import botocore.exceptions
import pytest
import yaml
from chalice.test import Client, HTTPResponse
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from werkzeug.datastructures import Headers, ImmutableMultiDict

from chalicelib.container import context
from chalicelib.sending.validation import parse_new_invoice
from chalicelib.tracking.pixel import PIXEL_GIF
from tests.integration.conftest import (
    HUMAN_UA,
    Stack,
    auth,
    html_of,
    invoice_body,
    make_key,
    message_to,
    pixel_path,
    sent_view,
)

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
HOST_URL = "http://localhost:8000"  # the spec's first server
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# What mail clients and their image proxies send, or nothing at all.
ACCEPT_HEADERS = [None, "*/*", "image/*", "image/gif", "image/avif,image/webp,*/*;q=0.8"]
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
UNKNOWN_INVOICE = "inv_aaaaaaaaaaaaaaaaaaaaaaaaaa"


# -- the spec and the adapters openapi-core needs ----------------------------------------


@cache
def spec() -> OpenAPI:
    """The spec, parsed and checked against the OpenAPI 3.1 meta-schema once."""
    return OpenAPI.from_file_path(str(SPEC_PATH))


@cache
def spec_document() -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8")))


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), None)


class ChaliceOpenAPIRequest:
    """A request sent through ``chalice.test.Client``, as openapi-core reads requests."""

    def __init__(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> None:
        url = urlsplit(path)
        self.host_url = HOST_URL
        self.path = url.path
        self.method = method.lower()
        self.body: bytes | None = body or None
        self.content_type = _header(headers, "Content-Type") or "application/octet-stream"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query, keep_blank_values=True)),
            header=Headers(dict(headers)),
            cookie=ImmutableMultiDict(),
        )


class ChaliceOpenAPIResponse:
    """A ``chalice.test.HTTPResponse`` as openapi-core reads responses."""

    def __init__(self, response: HTTPResponse) -> None:
        self.data = response.body
        self.status_code = response.status_code
        self.headers = Headers(
            [
                (k, ", ".join(v) if isinstance(v, list) else str(v))
                for k, v in response.headers.items()
            ]
        )
        # API Gateway answers application/json when a Lambda proxy response names no type
        # (Chalice's own errors name none).
        full = _header(response.headers, "Content-Type") or "application/json"
        self.content_type = full.split(";")[0].strip().lower()


def describe(errors: list[Exception]) -> str:
    """Every error and the schema errors behind it, for assertion messages."""
    lines: list[str] = []
    for error in errors:
        cause: BaseException | None = error
        while cause is not None:
            lines.append(f"{type(cause).__name__}: {cause}")
            lines.extend(f"  - {e.message}" for e in getattr(cause, "schema_errors", ()))
            cause = cause.__cause__
    return "\n".join(lines)


def request_errors(request: ChaliceOpenAPIRequest) -> list[Exception]:
    return list(spec().iter_request_errors(request))


def response_errors(request: ChaliceOpenAPIRequest, response: HTTPResponse) -> list[Exception]:
    return list(spec().iter_response_errors(request, ChaliceOpenAPIResponse(response)))


def call(
    client: Client,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    spec_accepts_request: bool = True,
) -> HTTPResponse:
    """Send a request; check that the spec accepts it (or, when the API is expected to
    refuse it, that the spec refuses it too) and that the response validates."""
    sent_headers = dict(headers or {})
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    request = ChaliceOpenAPIRequest(method, path, sent_headers, raw)
    problems = request_errors(request)
    if spec_accepts_request:
        assert not problems, describe(problems)
    else:
        assert problems, f"the spec accepts {method} {path}, which the API refuses"
    response = client.http.request(method, path, headers=sent_headers, body=raw)
    invalid = response_errors(request, response)
    assert not invalid, f"{response.status_code} {response.body[:500]!r}\n{describe(invalid)}"
    return response


def error_code(response: HTTPResponse) -> str:
    return cast(str, response.json_body["error"]["code"])


# -- helpers for the scenarios ------------------------------------------------------------


def spec_example() -> dict[str, Any]:
    body = spec_document()["paths"]["/invoices"]["post"]["requestBody"]
    return cast(dict[str, Any], body["content"]["application/json"]["examples"]["full"]["value"])


def create(client: Client, key: str, body: Any = None, **headers: str) -> HTTPResponse:
    response = call(
        client, "POST", "/invoices", headers={**auth(key), **headers}, body=body or invoice_body()
    )
    assert response.status_code == 202, response.body
    return response


@pytest.fixture
def opened(client: Client, api_key: str, stack: Stack) -> str:
    """An invoice whose first recipient has opened the email once; its id."""
    invoice_id: str = create(client, api_key).json_body["id"]
    pixel = pixel_path(message_to(stack, "ana@globex.example"))
    response = call(client, "GET", pixel, headers={"User-Agent": THUNDERBIRD})
    assert response.status_code == 200
    return invoice_id


# -- the spec describes every route, and only them ------------------------------------------


def spec_routes() -> dict[str, set[str]]:
    return {
        path: {method.upper() for method in item if method in HTTP_METHODS}
        for path, item in spec_document()["paths"].items()
    }


def app_routes() -> dict[str, set[str]]:
    from app import app

    return {path: set(methods) for path, methods in app.routes.items()}


def test_spec_is_valid_openapi_3_1() -> None:
    assert str(spec_document()["openapi"]).startswith("3.1.")
    validate(spec_document(), cls=OpenAPIV31SpecValidator)


def test_every_route_is_in_the_spec_with_the_same_methods() -> None:
    assert spec_routes() == app_routes()


def test_path_parameters_match_the_routes() -> None:
    from app import app

    document = spec_document()
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            item = document["paths"][path]
            declared = item.get("parameters", []) + item[method.lower()].get("parameters", [])
            names = set()
            for parameter in declared:
                if "$ref" in parameter:
                    parameter = document["components"]["parameters"][
                        parameter["$ref"].split("/")[-1]
                    ]
                if parameter["in"] == "path":
                    names.add(parameter["name"])
            assert names == set(entry.view_args), f"{method} {path}"


def operations() -> list[tuple[str, str]]:
    return sorted((method, path) for path, methods in spec_routes().items() for method in methods)


@pytest.mark.parametrize(("method", "path"), operations())
def test_security_in_the_spec_is_what_the_api_enforces(
    client: Client, method: str, path: str
) -> None:
    """Without a key, operations the spec protects answer 401 and public ones do not."""
    operation = spec_document()["paths"][path][method.lower()]
    protected = operation.get("security", spec_document()["security"]) != []
    concrete = (
        path.replace("{invoice_id}", UNKNOWN_INVOICE)
        .replace("{token}", "nope.gif")
        .replace("{name}", "app.js")  # a dashboard asset
    )
    headers = {"Content-Type": "application/json"}
    body = b"{}" if method == "POST" else None
    response = call(
        client, method, concrete, headers=headers, body=body, spec_accepts_request=not protected
    )
    assert (response.status_code == 401) is protected, response.body


# -- POST /invoices ------------------------------------------------------------------------


def test_create_with_the_spec_example(client: Client, api_key: str) -> None:
    parse_new_invoice(spec_example())  # the example is valid for the code, too
    response = create(client, api_key, spec_example())
    assert response.headers["Location"] == f"/invoices/{response.json_body['id']}"
    assert "Idempotent-Replayed" not in response.headers
    assert [r["status"] for r in response.json_body["recipients"]] == ["queued", "queued"]
    created = sent_view(client, api_key, response.json_body["id"])
    assert [r["status"] for r in created["recipients"]] == ["sent", "sent"]
    assert all(r["message_id"] and r["error"] is None for r in created["recipients"])


def test_idempotent_replay(client: Client, api_key: str) -> None:
    first = create(client, api_key, **{"Idempotency-Key": "order-7781"}).json_body
    replay = create(client, api_key, **{"Idempotency-Key": "order-7781"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json_body == sent_view(client, api_key, first["id"])


def test_idempotency_key_reused_with_another_body_is_a_conflict(
    client: Client, api_key: str
) -> None:
    first = create(client, api_key, **{"Idempotency-Key": "order-7781"}).json_body
    response = call(
        client,
        "POST",
        "/invoices",
        headers={**auth(api_key), "Idempotency-Key": "order-7781"},
        body=invoice_body(total="99.00"),
    )
    assert response.status_code == 409
    assert error_code(response) == "conflict"
    assert response.json_body["error"]["details"]["invoice_id"] == first["id"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param(
            invoice_body(currency="eur", surprise=1), {"currency", "surprise"}, id="fields"
        ),
        pytest.param(invoice_body(recipients=[]), {"recipients"}, id="no-recipients"),
        pytest.param(invoice_body(total="-1"), {"total"}, id="negative"),
        pytest.param(invoice_body(locale="fr"), {"locale"}, id="locale"),
        pytest.param(b"{not json", {""}, id="not-json"),
    ],
)
def test_invalid_invoice(client: Client, api_key: str, body: Any, fields: set[str]) -> None:
    response = call(
        client, "POST", "/invoices", headers=auth(api_key), body=body, spec_accepts_request=False
    )
    assert response.status_code == 400
    assert error_code(response) == "validation_failed"
    assert {d["field"] for d in response.json_body["error"]["details"]} == fields


def test_content_too_large_to_store(client: Client, api_key: str) -> None:
    """Within every limit the spec can state (200 lines of 500 characters), but past
    300,000 bytes stored: 4-byte characters."""
    lines = [{"description": "\U0001f4c4" * 500, "quantity": "1", "unit_price": "1"}] * 200
    response = call(
        client, "POST", "/invoices", headers=auth(api_key), body=invoice_body(lines=lines)
    )
    assert response.status_code == 400
    assert error_code(response) == "validation_failed"
    assert [d["field"] for d in response.json_body["error"]["details"]] == ["lines"]


def test_bad_idempotency_key(client: Client, api_key: str) -> None:
    response = call(
        client,
        "POST",
        "/invoices",
        headers={**auth(api_key), "Idempotency-Key": "k" * 256},
        body=invoice_body(),
        spec_accepts_request=False,
    )
    assert response.status_code == 400
    assert response.json_body["error"]["details"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Content-Type": "application/json"}, id="no-key"),
        pytest.param(
            {"Content-Type": "application/json", "Authorization": "Basic abc"}, id="basic"
        ),
    ],
)
def test_create_without_a_key(client: Client, headers: dict[str, str]) -> None:
    response = call(
        client,
        "POST",
        "/invoices",
        headers=headers,
        body=invoice_body(),
        spec_accepts_request=False,
    )
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="sobre"'


def test_create_with_an_unknown_key(client: Client, api_key: str) -> None:
    response = call(client, "POST", "/invoices", headers=auth("sobre_forged"), body=invoice_body())
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"


def test_body_too_large(client: Client, api_key: str) -> None:
    limit = 10_000_000  # SOBRE_MAX_BODY_BYTES in .chalice/config.json
    body = json.dumps(invoice_body(message="x" * limit)).encode()
    response = call(
        client, "POST", "/invoices", headers=auth(api_key), body=body, spec_accepts_request=False
    )
    assert response.status_code == 413
    assert error_code(response) == "payload_too_large"
    assert response.json_body["error"]["details"] == {"limit_bytes": limit, "size_bytes": len(body)}


def test_body_that_is_not_json(client: Client, api_key: str) -> None:
    headers = {**auth(api_key), "Content-Type": "text/plain"}
    response = call(
        client, "POST", "/invoices", headers=headers, body=b"hello", spec_accepts_request=False
    )
    assert response.status_code == 415
    assert error_code(response) == "unsupported_media_type"


# -- GET /invoices -------------------------------------------------------------------------


def test_list_all_then_by_status(client: Client, api_key: str, opened: str) -> None:
    other = create(client, api_key, invoice_body(number="INV-2026-002")).json_body["id"]
    everything = call(client, "GET", "/invoices", headers=auth(api_key))
    assert everything.status_code == 200
    assert {i["id"] for i in everything.json_body["items"]} == {opened, other}
    assert everything.json_body["next"] is None
    # Most recently changed first: by updated_at, then id.
    listed = [(i["updated_at"], i["id"]) for i in everything.json_body["items"]]
    assert listed == sorted(listed, reverse=True)
    by_status = call(client, "GET", "/invoices?status=opened", headers=auth(api_key))
    assert by_status.status_code == 200
    [item] = by_status.json_body["items"]
    assert item["id"] == opened
    assert item["first_opened_at"] is not None
    assert item["recipient_count"] == 2
    assert "recipients" not in item


def test_list_pages(client: Client, api_key: str) -> None:
    ids = {create(client, api_key, invoice_body(number=f"INV-{n}")).json_body["id"] for n in (1, 2)}
    first = call(client, "GET", "/invoices?limit=1", headers=auth(api_key)).json_body
    assert len(first["items"]) == 1
    assert first["next"]
    second = call(client, "GET", f"/invoices?limit=1&cursor={first['next']}", headers=auth(api_key))
    assert {first["items"][0]["id"], second.json_body["items"][0]["id"]} == ids


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_list_with_a_bad_query(client: Client, api_key: str, query: str, field: str) -> None:
    response = call(
        client, "GET", f"/invoices?{query}", headers=auth(api_key), spec_accepts_request=False
    )
    assert response.status_code == 400
    assert [d["field"] for d in response.json_body["error"]["details"]] == [field]


def test_list_with_a_cursor_it_did_not_issue(client: Client, api_key: str) -> None:
    response = call(client, "GET", "/invoices?cursor=bm9wZQ", headers=auth(api_key))
    assert response.status_code == 400
    assert response.json_body["error"]["details"][0]["field"] == "cursor"


def test_list_without_a_key(client: Client) -> None:
    response = call(client, "GET", "/invoices", spec_accepts_request=False)
    assert response.status_code == 401


# -- one invoice ---------------------------------------------------------------------------


def test_detail_after_an_open(client: Client, api_key: str, opened: str) -> None:
    response = call(client, "GET", f"/invoices/{opened}", headers=auth(api_key))
    assert response.status_code == 200
    detail = response.json_body
    assert detail["status"] == "opened"
    assert detail["open_count"] == 1
    assert detail["last_activity_at"] >= detail["updated_at"]
    ana, luis = detail["recipients"]
    assert ana["status"] == "opened"
    assert (ana["open_count"], luis["open_count"]) == (1, 0)
    assert "opens" not in ana  # the history is /events
    assert detail["lines"] == [
        {"description": "Consulting", "quantity": "10", "unit_price": "121.00"}
    ]


def test_events(client: Client, api_key: str, opened: str) -> None:
    response = call(client, "GET", f"/invoices/{opened}/events", headers=auth(api_key))
    assert response.status_code == 200
    items = response.json_body["items"]
    assert response.json_body["next"] is None
    assert [e["type"] for e in items] == ["open", "sent", "sent", "created"]  # newest first
    assert items[-1]["recipient_id"] is None
    seen = items[0]
    assert seen["source"] == "pixel"
    assert seen["details"]["user_agent"] == THUNDERBIRD
    assert seen["details"]["user_agent_family"] == "Thunderbird"
    assert seen["details"]["counted"] is True
    assert "duplicate_of" not in seen["details"]


def test_events_pages(client: Client, api_key: str, opened: str) -> None:
    path = f"/invoices/{opened}/events"
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = call(client, "GET", path + query, headers=auth(api_key)).json_body
        assert len(page["items"]) <= 3
        seen.extend(page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    whole = call(client, "GET", path, headers=auth(api_key)).json_body["items"]
    assert seen == whole


@pytest.mark.parametrize(
    ("query", "field", "accepted"),
    [
        ("limit=0", "limit", False),
        ("limit=501", "limit", False),
        ("limit=ten", "limit", False),
        ("cursor=bm9wZQ", "cursor", True),  # a string, but not one this API returned
    ],
)
def test_events_with_a_bad_query(
    client: Client, api_key: str, opened: str, query: str, field: str, accepted: bool
) -> None:
    response = call(
        client,
        "GET",
        f"/invoices/{opened}/events?{query}",
        headers=auth(api_key),
        spec_accepts_request=accepted,
    )
    assert response.status_code == 400
    assert [d["field"] for d in response.json_body["error"]["details"]] == [field]


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("GET", "/events"), ("POST", "/send")])
@pytest.mark.parametrize("invoice_id", [UNKNOWN_INVOICE, "not-an-id"])
def test_unknown_invoice(
    client: Client, api_key: str, method: str, suffix: str, invoice_id: str
) -> None:
    response = call(client, method, f"/invoices/{invoice_id}{suffix}", headers=auth(api_key))
    assert response.status_code == 404
    assert error_code(response) == "not_found"


def test_another_accounts_invoice_is_not_found(client: Client, api_key: str, opened: str) -> None:
    response = call(client, "GET", f"/invoices/{opened}", headers=auth(make_key("initech")))
    assert response.status_code == 404


def test_resend_when_everything_went_out(client: Client, api_key: str) -> None:
    created = create(client, api_key).json_body
    response = call(client, "POST", f"/invoices/{created['id']}/send", headers=auth(api_key))
    assert response.status_code == 202
    assert response.json_body == sent_view(client, api_key, created["id"])  # nothing to send


def test_resend_when_storage_fails(
    client: Client, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice_id = create(client, api_key).json_body["id"]

    def broken(*args: object, **kwargs: object) -> None:
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://dynamodb")

    monkeypatch.setattr(context().invoices, "get", broken)
    response = call(client, "POST", f"/invoices/{invoice_id}/send", headers=auth(api_key))
    assert response.status_code == 503
    assert error_code(response) == "unavailable"
    assert response.headers["Retry-After"] == "1"


# -- the pixel and health ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "accept"), [(".gif", accept) for accept in ACCEPT_HEADERS] + [("", None)]
)
def test_pixel(client: Client, api_key: str, stack: Stack, suffix: str, accept: str | None) -> None:
    invoice_id = create(client, api_key).json_body["id"]
    path = pixel_path(message_to(stack, "luis@globex.example")).removesuffix(".gif") + suffix
    headers = {"User-Agent": HUMAN_UA} | ({} if accept is None else {"Accept": accept})
    response = call(client, "GET", path, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert response.body == PIXEL_GIF
    detail = call(client, "GET", f"/invoices/{invoice_id}", headers=auth(api_key)).json_body
    assert detail["recipients"][1]["open_count"] == 1


@pytest.mark.parametrize(
    "path", ["/t/forged.gif", "/t/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]
)
def test_pixel_for_a_forged_token(client: Client, path: str) -> None:
    response = call(client, "GET", path)
    assert response.status_code == 200
    assert response.body == PIXEL_GIF


def test_pixel_head(client: Client, api_key: str, stack: Stack) -> None:
    invoice_id = create(client, api_key).json_body["id"]
    path = pixel_path(message_to(stack, "ana@globex.example"))
    response = call(client, "HEAD", path)
    assert response.status_code == 200
    assert response.body == b""
    assert response.headers["Content-Type"] == "image/gif"
    detail = call(client, "GET", f"/invoices/{invoice_id}", headers=auth(api_key)).json_body
    # A HEAD fetch is recorded, as a machine's: no person looks at headers alone.
    assert (detail["open_count"], detail["machine_open_count"]) == (0, 1)


def test_hosted_pdf_redirects_to_a_short_lived_link(
    client: Client, api_key: str, stack: Stack
) -> None:
    pdf = b"%PDF-1.4\n% a tiny test file\n%%EOF"
    create(client, api_key, invoice_body(pdf_base64=base64.b64encode(pdf).decode()))
    html = html_of(message_to(stack, "ana@globex.example"))
    found = re.search(r'href="https://track\.example\.com(/v/[A-Za-z0-9_-]+)"', html)
    assert found, "no View invoice link in the email"
    response = call(client, "GET", f"{found.group(1)}/pdf")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "X-Amz-Expires=60" in location
    with urllib.request.urlopen(location) as download:  # moto serves the presigned link
        assert download.read() == pdf
        assert download.headers["Content-Disposition"].startswith("attachment; filename=")


def test_health(client: Client) -> None:
    response = call(client, "GET", "/health")
    assert response.status_code == 200
    assert response.json_body == {"ok": True}


# -- the response schemas are strict enough to catch drift ---------------------------------


Change = Callable[[dict[str, Any]], None]


def _drop(key: str) -> Change:
    def change(body: dict[str, Any]) -> None:
        del body[key]

    return change


def _set(key: str, value: Any, recipient: bool = False) -> Change:
    def change(body: dict[str, Any]) -> None:
        (body["recipients"][0] if recipient else body)[key] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_set("surprise", 1), id="unknown-field"),
        pytest.param(_set("surprise", 1, recipient=True), id="unknown-recipient-field"),
        pytest.param(_drop("problem_count"), id="missing-field"),
        pytest.param(_set("status", "lost"), id="unknown-status"),
        pytest.param(_set("sent_at", "yesterday"), id="not-a-time"),
        pytest.param(_set("open_count", None, recipient=True), id="null-count"),
        pytest.param(_set("opens", [], recipient=True), id="history-in-the-detail"),
        pytest.param(_drop("updated_at"), id="missing-updated-at"),
        pytest.param(
            _set("bounce", {"at": "2026-01-01T00:00:00.000Z"}, recipient=True), id="bounce"
        ),
    ],
)
def test_a_drifted_detail_fails_validation(
    client: Client, api_key: str, opened: str, change: Change
) -> None:
    path = f"/invoices/{opened}"
    response = call(client, "GET", path, headers=auth(api_key))
    body = copy.deepcopy(response.json_body)
    change(body)
    drifted = HTTPResponse(json.dumps(body).encode(), response.headers, 200)
    request = ChaliceOpenAPIRequest("GET", path, auth(api_key), b"")
    assert response_errors(request, drifted)
