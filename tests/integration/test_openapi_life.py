"""The invoice's whole life over HTTP, against the moto server, every request and answer
checked against docs/openapi.yaml: paid and void, the payment filter through the index,
invoices found by their own number or external id."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from tests.integration.conftest import HUMAN, Stack, auth, invoice_body, make_key, message_to
from tests.integration.test_hosted_invoice import send, view_path
from tests.integration.test_openapi import call, create, error_code


def listed(client: Client, key: str, query: str) -> list[dict[str, Any]]:
    response = call(client, "GET", f"/invoices?{query}", headers=auth(key))
    assert response.status_code == 200, response.body
    items: list[dict[str, Any]] = response.json_body["items"]
    return items


def test_paid_is_idempotent_moves_the_invoice_and_void_after_paid_is_409(
    client: Client, api_key: str
) -> None:
    paid_id = create(client, api_key, invoice_body(number="P-1")).json_body["id"]
    other_id = create(client, api_key, invoice_body(number="U-1")).json_body["id"]
    body = {"paid_at": "2026-01-04T10:00:00+01:00", "reference": "TR-77"}
    first = call(client, "POST", f"/invoices/{paid_id}/paid", headers=auth(api_key), body=body)
    assert first.status_code == 200, first.body
    assert first.json_body["payment_status"] == "paid"
    assert first.json_body["payment"] == {
        "paid_at": "2026-01-04T09:00:00.000Z",
        "amount": "1210.00",
        "reference": "TR-77",
    }
    again = call(client, "POST", f"/invoices/{paid_id}/paid", headers=auth(api_key), body=body)
    assert (again.status_code, again.json_body["payment"]) == (200, first.json_body["payment"])
    bare = call(client, "POST", f"/invoices/{paid_id}/paid", headers=auth(api_key))
    assert bare.status_code == 200
    voided = call(client, "POST", f"/invoices/{paid_id}/void", headers=auth(api_key), body={})
    assert (voided.status_code, error_code(voided)) == (409, "conflict")
    other = {"reference": "TR-78"}
    changed = call(client, "POST", f"/invoices/{paid_id}/paid", headers=auth(api_key), body=other)
    assert changed.status_code == 409
    # The index entry moved: unpaid lists never show it, the paid list does.
    assert [i["id"] for i in listed(client, api_key, "payment_status=paid")] == [paid_id]
    assert [i["id"] for i in listed(client, api_key, "payment_status=unpaid")] == [other_id]
    assert [i["id"] for i in listed(client, api_key, "status=sent&payment_status=unpaid")] == [
        other_id
    ]
    everything = listed(client, api_key, "")
    assert {i["id"]: i["payment_status"] for i in everything} == {
        paid_id: "paid",
        other_id: "unpaid",
    }
    assert {i["id"] for i in listed(client, api_key, "status=sent")} == {paid_id, other_id}
    events = call(client, "GET", f"/invoices/{paid_id}/events", headers=auth(api_key))
    assert [e["type"] for e in events.json_body["items"]].count("paid") == 1


def test_void_then_pay_is_409_and_a_bad_payment_is_400(client: Client, api_key: str) -> None:
    invoice_id = create(client, api_key).json_body["id"]
    reason = {"reason": "sent twice"}
    voided = call(
        client, "POST", f"/invoices/{invoice_id}/void", headers=auth(api_key), body=reason
    )
    assert (voided.status_code, voided.json_body["payment"]["reason"]) == (200, "sent twice")
    again = call(client, "POST", f"/invoices/{invoice_id}/void", headers=auth(api_key), body=reason)
    assert again.status_code == 200
    assert [i["id"] for i in listed(client, api_key, "payment_status=void")] == [invoice_id]
    paid = call(client, "POST", f"/invoices/{invoice_id}/paid", headers=auth(api_key))
    assert paid.status_code == 409
    other = create(client, api_key, invoice_body(number="X")).json_body["id"]
    bad = call(
        client,
        "POST",
        f"/invoices/{other}/paid",
        headers=auth(api_key),
        body={"amount": "12,5"},
        spec_accepts_request=False,
    )
    assert (bad.status_code, error_code(bad)) == (400, "validation_failed")
    missing = call(
        client, "POST", "/invoices/inv_aaaaaaaaaaaaaaaaaaaaaaaaaa/paid", headers=auth(api_key)
    )
    assert missing.status_code == 404


def test_remind_now_refuses_a_paid_invoice(client: Client, api_key: str) -> None:
    invoice_id = create(client, api_key).json_body["id"]
    call(client, "POST", f"/invoices/{invoice_id}/paid", headers=auth(api_key))
    refused = call(client, "POST", f"/invoices/{invoice_id}/remind", headers=auth(api_key))
    assert (refused.status_code, error_code(refused)) == (409, "conflict")


def test_found_by_number_prefix_and_external_id(client: Client, api_key: str, stack: Stack) -> None:
    a = create(client, api_key, invoice_body(number="F-2026-0042")).json_body["id"]
    b = create(client, api_key, invoice_body(number="F-2026-0043")).json_body["id"]
    create(client, api_key, invoice_body(number="G-1"))
    ext = create(client, api_key, invoice_body(number="F-9", external_id="erp:9")).json_body["id"]
    assert [i["id"] for i in listed(client, api_key, "number=F-2026-0042")] == [a]
    assert [i["id"] for i in listed(client, api_key, "number=f-2026-0042")] == [a]
    assert listed(client, api_key, "number=F-2026") == []
    assert [i["id"] for i in listed(client, api_key, "number_prefix=f-2026")] == [a, b]
    assert [i["id"] for i in listed(client, api_key, "number_prefix=F&limit=1")] == [a]
    assert [i["id"] for i in listed(client, api_key, "external_id=erp:9")] == [ext]
    assert listed(client, api_key, "external_id=erp:10") == []
    detail = call(client, "GET", f"/invoices/{ext}", headers=auth(api_key)).json_body
    assert detail["external_id"] == "erp:9"
    # Another account never finds them.
    other = make_key("globex")
    assert listed(client, other, "number=F-2026-0042") == []
    assert listed(client, other, "external_id=erp:9") == []
    mixed = call(client, "GET", "/invoices?number=F-1&status=sent", headers=auth(api_key))
    assert (mixed.status_code, error_code(mixed)) == (400, "validation_failed")


def test_external_id_is_unique_per_account_like_an_idempotency_key(
    client: Client, api_key: str
) -> None:
    body = invoice_body(number="F-1", external_id="erp:1")
    first = create(client, api_key, body)
    replay = call(client, "POST", "/invoices", headers=auth(api_key), body=body)
    assert replay.status_code == 202
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json_body["id"] == first.json_body["id"]
    other = call(client, "POST", "/invoices", headers=auth(api_key), body={**body, "total": "1.00"})
    assert (other.status_code, error_code(other)) == (409, "conflict")
    assert other.json_body["error"]["details"]["external_id"] == "erp:1"


@pytest.mark.parametrize(
    ("locale", "action", "shown"),
    [
        ("en", "paid", "Paid"),
        ("es", "paid", "Pagada"),
        ("en", "void", "Void"),
        ("es", "void", "Anulada"),
    ],
)
def test_the_hosted_page_says_paid_or_void(
    client: Client, api_key: str, stack: Stack, locale: str, action: str, shown: str
) -> None:
    invoice_id = send(client, api_key, locale=locale)["id"]
    path = view_path(stack)
    before = client.http.get(path, headers=HUMAN).body.decode()
    assert 'role="status"' not in before
    call(client, "POST", f"/invoices/{invoice_id}/{action}", headers=auth(api_key))
    after = client.http.get(path, headers=HUMAN).body.decode()
    assert f'role="status">{shown}</p>' in after


def test_a_bounced_recipients_invoice_gets_a_new_recipient_who_is_mailed(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key)["id"]
    body = {"recipients": [{"email": "accounts@globex.example", "name": "Accounts"}]}
    path = f"/invoices/{invoice_id}/recipients"
    added = call(client, "POST", path, headers=auth(api_key), body=body)
    assert added.status_code == 202, added.body
    [new] = added.json_body["recipients"]
    assert (new["email"], new["status"]) == ("accounts@globex.example", "queued")
    assert message_to(stack, "accounts@globex.example") is not None
    again = call(client, "POST", path, headers=auth(api_key), body=body)
    assert (again.status_code, error_code(again)) == (409, "conflict")
    detail = call(client, "GET", f"/invoices/{invoice_id}", headers=auth(api_key)).json_body
    assert [r["email"] for r in detail["recipients"]] == [
        "ana@globex.example",
        "accounts@globex.example",
    ]
    empty = call(
        client,
        "POST",
        path,
        headers=auth(api_key),
        body={"recipients": []},
        spec_accepts_request=False,
    )
    assert empty.status_code == 400


def test_the_account_over_the_api(client: Client, api_key: str) -> None:
    shown = call(client, "GET", "/account", headers=auth(api_key))
    assert shown.status_code == 200, shown.body
    assert shown.json_body["time_zone"] == "UTC"
    change = {"report_address": "owner@acme.example", "time_zone": "Europe/Madrid"}
    patched = call(client, "PATCH", "/account", headers=auth(api_key), body=change)
    assert patched.status_code == 200, patched.body
    madrid = patched.json_body["next_digest_at"]
    # The same container sees it at once (its account cache is dropped on write).
    again = call(client, "GET", "/account", headers=auth(api_key)).json_body
    assert (again["time_zone"], again["next_digest_at"]) == ("Europe/Madrid", madrid)
    moved = call(
        client, "PATCH", "/account", headers=auth(api_key), body={"time_zone": "America/New_York"}
    ).json_body
    assert moved["next_digest_at"] != madrid
    bad = call(
        client,
        "PATCH",
        "/account",
        headers=auth(api_key),
        body={"time_zone": "Mars/Olympus", "reminder_max": 99},
        spec_accepts_request=False,
    )
    assert (bad.status_code, error_code(bad)) == (400, "validation_failed")
    assert {d["field"] for d in bad.json_body["error"]["details"]} == {"time_zone", "reminder_max"}
