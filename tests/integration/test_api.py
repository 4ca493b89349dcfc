"""The HTTP API through Chalice's test client, against moto in server mode."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from chalice.test import Client

from tests.integration.conftest import (
    HUMAN,
    Stack,
    auth,
    html_of,
    invoice_body,
    make_key,
    message_to,
    pixel_path,
    post_invoice,
    sent_messages,
    sent_view,
)


def error_of(response: Any) -> dict[str, Any]:
    body = json.loads(response.body)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


def test_two_recipients_one_opens_and_the_status_query_says_who(
    client: Client, api_key: str, stack: Stack
) -> None:
    # Given an invoice sent to two people
    created = post_invoice(client, api_key, invoice_body())
    assert created.status_code == 202
    assert created.headers["Location"] == f"/invoices/{created.json_body['id']}"
    assert len(sent_messages(stack)) == 2  # one SES message per recipient
    # When only Ana's mail client loads her pixel
    client.http.get(pixel_path(message_to(stack, "ana@globex.example")), headers=HUMAN)
    # Then the invoice is listed as opened, with Ana opened and Luis not
    listed = client.http.get("/invoices?status=opened", headers=auth(api_key)).json_body
    assert [i["id"] for i in listed["items"]] == [created.json_body["id"]]
    assert listed["items"][0]["recipient_count"] == 2
    assert listed["items"][0]["first_opened_at"] is not None
    detail = client.http.get(f"/invoices/{created.json_body['id']}", headers=auth(api_key))
    recipients = {r["email"]: r for r in detail.json_body["recipients"]}
    assert recipients["ana@globex.example"]["status"] == "opened"
    assert recipients["ana@globex.example"]["open_count"] == 1
    assert recipients["luis@globex.example"]["status"] == "sent"
    assert client.http.get("/invoices?status=sent", headers=auth(api_key)).json_body["items"] == []


def test_each_message_is_tagged_and_has_its_own_pixel(
    client: Client, api_key: str, stack: Stack
) -> None:
    post_invoice(client, api_key, invoice_body())
    ana, luis = message_to(stack, "ana@globex.example"), message_to(stack, "luis@globex.example")
    assert pixel_path(ana) != pixel_path(luis)
    for message in (ana, luis):
        assert "INV-2026-001" in html_of(message)
        assert "INV-2026-001" not in pixel_path(message)
        assert "globex" not in pixel_path(message)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sobre_wrong"}, {"Authorization": "Basic abc"}],
    ids=["missing", "wrong", "not-bearer"],
)
def test_invoices_routes_need_a_valid_key(client: Client, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/invoices"),
        ("POST", "/invoices"),
        ("GET", "/invoices/inv_x"),
        ("GET", "/invoices/inv_x/events"),
        ("POST", "/invoices/inv_x/send"),
    ]:
        response = client.http.request(
            method, path, headers={**headers, "Content-Type": "application/json"}, body=b"{}"
        )
        assert response.status_code == 401, (method, path)
        assert error_of(response)["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_accounts_invoice_is_not_found(client: Client, api_key: str) -> None:
    invoice_id = post_invoice(client, api_key, invoice_body()).json_body["id"]
    other = make_key("initech", "billing@example.com")
    for path in (f"/invoices/{invoice_id}", f"/invoices/{invoice_id}/events"):
        response = client.http.get(path, headers=auth(other))
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert client.http.post(f"/invoices/{invoice_id}/send", headers=auth(other)).status_code == 404
    assert client.http.get("/invoices", headers=auth(other)).json_body["items"] == []


def test_bad_input_names_every_field_and_stores_nothing(
    client: Client, api_key: str, stack: Stack
) -> None:
    body = invoice_body(
        total="-3",
        currency="EUX",
        due_date="2026-02-30",
        recipients=[
            {"email": "not-an-address"},
            {"email": "a@example.com"},
            {"email": "A@example.com"},
        ],
    )
    del body["number"]
    response = post_invoice(client, api_key, body)
    assert response.status_code == 400
    fields = {d["field"] for d in error_of(response)["details"]}
    assert fields == {
        "number",
        "total",
        "currency",
        "due_date",
        "recipients[0].email",
        "recipients[2].email",
    }
    assert sent_messages(stack) == []
    assert client.http.get("/invoices", headers=auth(api_key)).json_body["items"] == []


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"\xff\xfe"])
def test_unparseable_bodies_are_400(client: Client, api_key: str, raw: bytes) -> None:
    response = client.http.post("/invoices", headers=auth(api_key), body=raw)
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_failed"


def test_too_many_recipients(client: Client, api_key: str) -> None:
    recipients = [{"email": f"r{i}@example.com"} for i in range(51)]
    response = post_invoice(client, api_key, invoice_body(recipients=recipients))
    assert response.status_code == 400
    assert error_of(response)["details"] == [
        {"field": "recipients", "message": "must have at most 50 recipients"}
    ]


def test_body_over_the_limit_is_413(client: Client, api_key: str, stack: Stack) -> None:
    # 7.5 MB of PDF is over 10 MB once base64-encoded: refused before parsing.
    pdf = b"%PDF-1.4\n" + b"0" * 7_500_000
    response = post_invoice(
        client, api_key, invoice_body(pdf_base64=base64.b64encode(pdf).decode())
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert sent_messages(stack) == []


def test_pdf_over_7_mb_is_400(client: Client, api_key: str) -> None:
    pdf = b"%PDF-1.4\n" + b"0" * (7 * 1024 * 1024)
    response = post_invoice(
        client, api_key, invoice_body(pdf_base64=base64.b64encode(pdf).decode())
    )
    assert response.status_code == 400
    assert [d["field"] for d in error_of(response)["details"]] == ["pdf_base64"]


def test_pdf_is_attached(client: Client, api_key: str, stack: Stack) -> None:
    pdf = b"%PDF-1.4\n" + b"0" * 500_000 + b"\n%%EOF"  # spans two stored chunks
    body = invoice_body(
        pdf_base64=base64.b64encode(pdf).decode(), recipients=[{"email": "ana@globex.example"}]
    )
    assert post_invoice(client, api_key, body).status_code == 202
    import email

    parsed = email.message_from_string(message_to(stack, "ana@globex.example").raw)
    attachments = [p for p in parsed.walk() if p.get_content_type() == "application/pdf"]
    assert len(attachments) == 1
    assert attachments[0].get_payload(decode=True) == pdf
    assert attachments[0].get_filename() == "INV-2026-001.pdf"


def test_idempotency_key_replays_and_conflicts(client: Client, api_key: str, stack: Stack) -> None:
    first = post_invoice(client, api_key, invoice_body(), **{"Idempotency-Key": "order-77"})
    again = post_invoice(client, api_key, invoice_body(), **{"Idempotency-Key": "order-77"})
    assert first.status_code == again.status_code == 202
    assert again.json_body == sent_view(client, api_key, first.json_body["id"])
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(sent_messages(stack)) == 2  # nothing sent the second time
    changed = post_invoice(
        client, api_key, invoice_body(total="1.00"), **{"Idempotency-Key": "order-77"}
    )
    assert changed.status_code == 409
    assert error_of(changed)["code"] == "conflict"
    # The same key from another account is another invoice.
    other = make_key("initech", "billing@example.com")
    theirs = post_invoice(client, other, invoice_body(), **{"Idempotency-Key": "order-77"})
    assert theirs.status_code == 202
    assert theirs.json_body["id"] != first.json_body["id"]


def test_refused_recipients_fail_and_resend_retries_only_them(client: Client, stack: Stack) -> None:
    # An account whose sender SES has not verified: SES refuses every message.
    key = make_key("unverified", "billing@unverified.example")
    created = post_invoice(client, key, invoice_body())
    assert created.status_code == 202
    assert created.json_body["status"] == "queued"
    body = sent_view(client, key, created.json_body["id"])
    assert body["status"] == "failed"
    assert {r["status"] for r in body["recipients"]} == {"failed"}
    assert all("MessageRejected" in r["error"] for r in body["recipients"])
    assert sent_messages(stack) == []
    # Once the sender is verified, resending sends to the failed recipients.
    boto3.client("ses").verify_email_identity(EmailAddress="billing@unverified.example")
    resent = client.http.post(f"/invoices/{body['id']}/send", headers=auth(key))
    assert resent.status_code == 202
    assert {r["status"] for r in resent.json_body["recipients"]} == {"queued"}
    assert {r["status"] for r in sent_view(client, key, body["id"])["recipients"]} == {"sent"}
    assert len(sent_messages(stack)) == 2
    # And again sends nothing more: nobody is left to retry.
    client.http.post(f"/invoices/{body['id']}/send", headers=auth(key))
    assert len(sent_messages(stack)) == 2
    detail = client.http.get(f"/invoices/{body['id']}", headers=auth(key)).json_body
    assert [r["send_attempts"] for r in detail["recipients"]] == [2, 2]


def test_listing_pages_through_the_cursor_most_recent_first(client: Client, api_key: str) -> None:
    ids = [
        post_invoice(client, api_key, invoice_body(number=f"INV-{n}")).json_body["id"]
        for n in range(5)
    ]
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = "/invoices?status=sent&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.http.get(query, headers=auth(api_key)).json_body
        seen += [i["id"] for i in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    all_items = client.http.get("/invoices?limit=100", headers=auth(api_key)).json_body
    assert len(all_items["items"]) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=read", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=%%%", "cursor"),
    ],
)
def test_bad_list_queries_are_400(client: Client, api_key: str, query: str, field: str) -> None:
    response = client.http.get(f"/invoices?{query}", headers=auth(api_key))
    assert response.status_code == 400
    assert [d["field"] for d in error_of(response)["details"]] == [field]


def test_timeline_lists_everything_in_order(client: Client, api_key: str, stack: Stack) -> None:
    invoice_id = post_invoice(client, api_key, invoice_body()).json_body["id"]
    client.http.get(
        pixel_path(message_to(stack, "luis@globex.example")),
        headers={"User-Agent": "Thunderbird/115"},
    )
    items = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    types = [e["type"] for e in items["items"]]
    assert types == ["open", "sent", "sent", "created"]  # newest first
    assert [e["at"] for e in items["items"]] == sorted(
        (e["at"] for e in items["items"]), reverse=True
    )
    assert items["items"][0]["details"]["user_agent"] == "Thunderbird/115"
    assert items["next"] is None
