"""No 5xx on any input (issue 15, findings 3 and 12): ``POST /invoices``, ``POST
/webhooks`` and ``POST /v/{token}/seen`` fuzzed through Chalice's test client against
the moto server, and the regressions the issue found. Every answer is below 500, and
every 4xx has Sobre's JSON error shape, bounded in size."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import Stack, auth, html_of, invoice_body, sent_messages

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Any text, lone surrogates, controls and private-use characters included.
TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ]
)
ERROR_KEYS = {"code", "message", "details"}


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def mutated_invoice(field: str, value: Any) -> dict[str, Any]:
    body = invoice_body()
    if field.startswith("recipients."):
        body["recipients"][0][field.removeprefix("recipients.")] = value
    else:
        body[field] = value
    return body


INVOICE_FIELDS = st.sampled_from(
    [
        "number",
        "customer",
        "recipients",
        "recipients.email",
        "recipients.name",
        "currency",
        "total",
        "due_date",
        "issue_date",
        "lines",
        "subject",
        "message",
        "reply_to",
        "pdf_base64",
        "metadata",
        "locale",
        "tracking",
        "unknown",
    ]
)
INVOICE_BODIES = st.one_of(
    st.builds(lambda f, v: json.dumps(mutated_invoice(f, v)).encode(), INVOICE_FIELDS, JSON_VALUES),
    st.builds(lambda f, v: json.dumps(mutated_invoice(f, v)).encode(), INVOICE_FIELDS, TEXT),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.integers(1, 6_000).map(deep),
)
WEBHOOK_BODIES = st.one_of(
    st.builds(
        lambda url, events: json.dumps({"url": url, "events": events}).encode(),
        TEXT | st.from_regex(r"https://[a-z0-9.:\[\]-]{1,30}/[a-z]{0,5}", fullmatch=True),
        JSON_VALUES,
    ),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.integers(1, 6_000).map(deep),
)


def check(response: Any) -> None:
    """Below 500; a 4xx is Sobre's error shape, and small."""
    assert response.status_code < 500, response.body[:500]
    if response.status_code >= 400:
        assert len(response.body) < 20_000
        body = json.loads(response.body)
        assert set(body) == {"error"}, body
        assert ERROR_KEYS <= set(body["error"]) <= ERROR_KEYS | {"omitted"}, body
        assert isinstance(body["error"]["code"], str)
        assert response.headers["Content-Type"] == "application/json"


@FUZZ
@given(body=INVOICE_BODIES, content_type=CONTENT_TYPES)
def test_post_invoices_never_answers_5xx(
    client: Client, api_key: str, body: bytes, content_type: str
) -> None:
    headers = {**auth(api_key), "Content-Type": content_type}
    check(client.http.post("/invoices", headers=headers, body=body))


@FUZZ
@given(body=WEBHOOK_BODIES, content_type=CONTENT_TYPES)
def test_post_webhooks_never_answers_5xx(
    client: Client, api_key: str, body: bytes, content_type: str
) -> None:
    headers = {**auth(api_key), "Content-Type": content_type}
    check(client.http.post("/webhooks", headers=headers, body=body))


@pytest.fixture
def seen_path(client: Client, api_key: str, stack: Stack) -> str:
    created = client.http.post("/invoices", headers=auth(api_key), body=json.dumps(invoice_body()))
    assert created.status_code == 202
    found = re.search(
        r'href="https://track\.example\.com(/v/[A-Za-z0-9_-]+)"', html_of(sent_messages(stack)[0])
    )
    assert found is not None
    return f"{found[1]}/seen"


@FUZZ
@given(body=INVOICE_BODIES, content_type=CONTENT_TYPES, forged=st.booleans())
def test_post_seen_never_answers_5xx(
    client: Client, seen_path: str, body: bytes, content_type: str, forged: bool
) -> None:
    path = "/v/forged-token/seen" if forged else seen_path
    response = client.http.post(path, headers={"Content-Type": content_type}, body=body)
    check(response)
    # The beacon is JSON only (a text/plain POST needs no CORS preflight: issue 14).
    if content_type.split(";")[0] == "application/json":
        assert response.status_code == 204
    elif content_type.split(";")[0] == "text/plain":
        assert response.status_code == 415


# -- the regressions of the issue ----------------------------------------------------------


@pytest.mark.parametrize("route", ["/invoices", "/webhooks", "seen"])
def test_json_nested_5000_deep_is_never_a_500(
    client: Client, api_key: str, seen_path: str, route: str
) -> None:
    path = seen_path if route == "seen" else route
    response = client.http.post(path, headers=auth(api_key), body=deep(5_000))
    check(response)
    if route != "seen":
        assert response.status_code == 400
        assert "nested deeper" in response.json_body["error"]["details"][0]["message"]


def test_415_and_405_have_sobres_shape(client: Client, api_key: str) -> None:
    wrong_type = client.http.post(
        "/invoices", headers={**auth(api_key), "Content-Type": "text/plain"}, body=b"{}"
    )
    check(wrong_type)
    assert (wrong_type.status_code, wrong_type.json_body["error"]["code"]) == (
        415,
        "unsupported_media_type",
    )
    wrong_method = client.http.put("/invoices", headers=auth(api_key), body=b"{}")
    check(wrong_method)
    assert (wrong_method.status_code, wrong_method.json_body["error"]["code"]) == (
        405,
        "method_not_allowed",
    )
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_a_2mb_body_of_unknown_keys_gets_a_small_answer(client: Client, api_key: str) -> None:
    body = invoice_body(**{f"unknown-{i:07d}-{'x' * 10}": 1 for i in range(60_000)})
    raw = json.dumps(body).encode()
    assert 1_500_000 < len(raw) < 2_000_000
    response = client.http.post("/invoices", headers=auth(api_key), body=raw)
    check(response)
    error = response.json_body["error"]
    assert response.status_code == 400
    assert (len(error["details"]), error["omitted"]) == (20, 60_000 - 20)
    assert len(response.body) < 5_000


@pytest.mark.parametrize(
    "url",
    [
        "https://127.1/hook",
        "https://0x7f.1/hook",
        "https://0177.0.0.1/hook",
        "https://localhost./hook",
        "https://[::127.0.0.1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[2002:a9fe:a9fe::]/hook",
    ],
)
def test_webhook_registration_refuses_inside_addresses_however_spelled(
    client: Client, api_key: str, url: str
) -> None:
    body = json.dumps({"url": url, "events": ["invoice.opened"]})
    response = client.http.post("/webhooks", headers=auth(api_key), body=body)
    check(response)
    assert response.status_code == 400
    assert [d["field"] for d in response.json_body["error"]["details"]] == ["url"]
