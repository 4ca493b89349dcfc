from __future__ import annotations

from chalice.test import Client

from tests.integration.conftest import auth, invoice_body, post_invoice, sent_view


def test_send_then_open_then_list(client: Client, api_key: str) -> None:
    response = post_invoice(client, api_key, invoice_body())
    assert response.status_code == 202, response.body
    assert [r["status"] for r in response.json_body["recipients"]] == ["queued", "queued"]
    created = sent_view(client, api_key, response.json_body["id"])
    assert created["status"] == "sent"
    assert [r["status"] for r in created["recipients"]] == ["sent", "sent"]
    detail = client.http.get(f"/invoices/{created['id']}", headers=auth(api_key)).json_body
    assert detail["status"] == "sent"
