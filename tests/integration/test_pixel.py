"""The tracking pixel through the Chalice app, against moto: every Accept variant,
forged tokens, and DynamoDB failing underneath."""

from __future__ import annotations

import pytest
from chalice.test import Client

from chalicelib.ids import TokenSigner
from tests.integration.conftest import (
    HUMAN,
    Stack,
    auth,
    invoice_body,
    message_to,
    pixel_path,
    post_invoice,
    use_endpoint,
)

NO_CACHE = "no-store, no-cache, must-revalidate, private, max-age=0"
BROWSER_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def assert_gif(response: object) -> None:
    status = getattr(response, "status_code", None)
    headers = getattr(response, "headers", {})
    body = getattr(response, "body", b"")
    assert status == 200, body
    assert headers["Content-Type"] == "image/gif"
    assert headers["Cache-Control"] == NO_CACHE
    assert headers["Pragma"] == "no-cache"
    assert headers["Expires"] == "0"
    assert body.startswith(b"GIF89a")
    assert len(body) == 43


@pytest.fixture
def sent(client: Client, api_key: str, stack: Stack) -> dict[str, str]:
    created = post_invoice(client, api_key, invoice_body()).json_body
    return {
        "invoice_id": created["id"],
        "ana": pixel_path(message_to(stack, "ana@globex.example")),
        "luis": pixel_path(message_to(stack, "luis@globex.example")),
    }


def recipients(client: Client, key: str, invoice_id: str) -> dict[str, dict[str, object]]:
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    return {r["email"]: r for r in detail["recipients"]}


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "image/*", "image/gif", BROWSER_ACCEPT, "text/html", "application/json"],
)
def test_every_accept_header_gets_the_gif_and_counts(
    client: Client, api_key: str, sent: dict[str, str], accept: str | None
) -> None:
    headers = {  # a real Chrome (microlinkhq/top-user-agents src/desktop.json)
        "User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
    }
    if accept is not None:
        headers["Accept"] = accept
    assert_gif(client.http.get(sent["ana"], headers=headers))
    state = recipients(client, api_key, sent["invoice_id"])
    assert state["ana@globex.example"]["open_count"] == 1
    assert state["ana@globex.example"]["status"] == "opened"
    assert state["luis@globex.example"]["open_count"] == 0


def test_suffixless_token_counts_too(client: Client, api_key: str, sent: dict[str, str]) -> None:
    assert_gif(client.http.get(sent["luis"].removesuffix(".gif"), headers=HUMAN))
    assert recipients(client, api_key, sent["invoice_id"])["luis@globex.example"]["open_count"] == 1


def test_opens_are_counted_and_timed_per_recipient(
    client: Client, api_key: str, sent: dict[str, str]
) -> None:
    ua = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15"
        " (KHTML, like Gecko) Version/12.1.2 Safari/605.1.15"
    )
    for _ in range(3):
        client.http.get(sent["ana"], headers={"User-Agent": ua})
    ana = recipients(client, api_key, sent["invoice_id"])["ana@globex.example"]
    assert ana["open_count"] == 3
    events = client.http.get(
        f"/invoices/{sent['invoice_id']}/events", headers=auth(api_key)
    ).json_body["items"]
    opens = [e["details"] for e in events if e["type"] == "open"]
    assert len(opens) == 3
    assert opens[0]["user_agent_family"] == "Safari"
    assert opens[0]["ip"] == "127.0.0.0/24"  # chalice local's source address, truncated
    assert ana["first_opened_at"] <= ana["last_opened_at"]  # type: ignore[operator]


@pytest.mark.parametrize("kind", ["tampered", "garbage", "empty-ish", "other-secret"])
def test_forged_tokens_get_the_gif_and_count_nothing(
    client: Client, api_key: str, sent: dict[str, str], kind: str
) -> None:
    token = sent["ana"].removeprefix("/t/").removesuffix(".gif")
    forged = {
        "tampered": token[:10] + ("A" if token[10] != "A" else "B") + token[11:],
        "garbage": "not-a-token-at-all",
        "empty-ish": "x",
        "other-secret": TokenSigner(b"another-secret-0123456789").token_for(
            sent["invoice_id"], "rcp_aaaaaaaaaaaaaaaa", "pixel"
        ),
    }[kind]
    assert_gif(client.http.get(f"/t/{forged}.gif"))
    state = recipients(client, api_key, sent["invoice_id"])
    assert all(r["open_count"] == 0 for r in state.values())


def test_head_request_answers_like_the_gif_without_a_body(
    client: Client, sent: dict[str, str]
) -> None:
    response = client.http.request("HEAD", sent["ana"], headers={})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"


def test_pixel_answers_when_dynamodb_has_no_table(
    client: Client, api_key: str, sent: dict[str, str], stack: Stack
) -> None:
    import boto3

    boto3.client("dynamodb").delete_table(TableName="sobre")
    assert_gif(client.http.get(sent["ana"], headers={"Accept": "image/*"}))


def test_pixel_answers_when_dynamodb_is_unreachable(
    client: Client, sent: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.emulators import free_port

    # Nothing listens there: every DynamoDB call fails to connect.
    use_endpoint(monkeypatch, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    assert_gif(client.http.get(sent["ana"]))
