"""The hosted invoice behind "View invoice": the page, its display beacon, the PDF, and
what counts as `viewed` — against moto, through Chalice's test client."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from typing import Any

from chalice.test import Client

from tests.integration.conftest import (
    HUMAN,
    HUMAN_UA,
    Stack,
    auth,
    html_of,
    invoice_body,
    message_to,
    post_invoice,
)

PDF = b"%PDF-1.4\n% a tiny test file\n%%EOF"


def send(client: Client, key: str, **overrides: Any) -> dict[str, Any]:
    body = invoice_body(recipients=[{"email": "ana@globex.example", "name": "Ana"}], **overrides)
    response = post_invoice(client, key, body)
    assert response.status_code == 202, response.body
    return dict(response.json_body)


def view_path(stack: Stack) -> str:
    html = html_of(message_to(stack, "ana@globex.example"))
    found = re.search(r'href="https://track\.example\.com(/v/[A-Za-z0-9_-]+)"', html)
    assert found, "no View invoice link in the email"
    return found.group(1)


def beacon_nonce(page: str) -> str:
    """The nonce the page's script sends back (its page load's)."""
    found = re.search(r'load=("[A-Za-z0-9_-]+")', page)
    assert found, "no beacon nonce in the page"
    return str(json.loads(found.group(1)))


def pixel_path(stack: Stack) -> str:
    html = html_of(message_to(stack, "ana@globex.example"))
    found = re.search(r'src="https://track\.example\.com(/t/[A-Za-z0-9_-]+\.gif)"', html)
    assert found, "no pixel in the email"
    return found.group(1)


def recipient(client: Client, key: str, invoice_id: str) -> dict[str, Any]:
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(key)).json_body
    return dict(detail["recipients"][0])


def test_the_email_links_to_a_hosted_page_without_identifying_data(
    client: Client, api_key: str, stack: Stack
) -> None:
    send(client, api_key)
    path = view_path(stack)
    assert "INV-2026-001" not in path
    assert "globex" not in path
    page = client.http.get(path, headers=HUMAN)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.body.decode()
    assert "INV-2026-001" in text
    assert "Globex S.L." in text
    nonce = re.search(r"script-src 'nonce-([^']+)'", page.headers["Content-Security-Policy"])
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in text
    assert f"{path}/seen" in text  # the display beacon


def test_a_person_viewing_the_page_makes_the_invoice_viewed(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key)["id"]
    path = view_path(stack)
    page = client.http.get(path, headers=HUMAN)
    # The page fetch alone proves nothing: scanners fetch every link.
    assert recipient(client, api_key, invoice_id)["status"] == "sent"
    seen = client.http.post(
        f"{path}/seen",
        headers={**HUMAN, "Content-Type": "application/json"},
        body=json.dumps({"trigger": "visible", "nonce": beacon_nonce(page.body.decode())}),
    )
    assert seen.status_code == 204
    ana = recipient(client, api_key, invoice_id)
    assert ana["status"] == "viewed"
    assert ana["viewed_at"] is not None
    listed = client.http.get("/invoices?status=viewed", headers=auth(api_key)).json_body
    assert [i["id"] for i in listed["items"]] == [invoice_id]
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    viewed = [e for e in events["items"] if e["type"] == "viewed"]
    assert viewed[0]["details"]["verdict"] == "human"
    assert viewed[0]["details"]["trigger"] == "visible"


def test_a_scanner_following_the_link_is_recorded_but_never_viewed(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key)["id"]
    path = view_path(stack)
    scanner = {"User-Agent": "Barracuda Sentinel (EE)"}
    page = client.http.get(path, headers=scanner)
    assert page.status_code == 200
    # Even one that runs the page's script: the beacon is judged on its page load.
    client.http.post(
        f"{path}/seen",
        headers={**scanner, "Content-Type": "application/json"},
        body=json.dumps({"nonce": beacon_nonce(page.body.decode())}),
    )
    ana = recipient(client, api_key, invoice_id)
    assert ana["status"] == "sent"
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    fetches = [e for e in events["items"] if e["type"] in ("view", "viewed")]
    assert [e["details"]["verdict"] for e in fetches] == ["scanner", "scanner"]
    assert all("ua:scanner:barracuda" in e["details"]["reasons"] for e in fetches)


def test_the_pdf_is_downloadable_from_the_page(client: Client, api_key: str, stack: Stack) -> None:
    send(client, api_key, pdf_base64=base64.b64encode(PDF).decode())
    path = view_path(stack)
    assert f'href="{path}/pdf"' in client.http.get(path, headers=HUMAN).body.decode()
    for accept in (None, "*/*", "application/pdf"):
        headers = {} if accept is None else {"Accept": accept}
        response = client.http.get(f"{path}/pdf", headers=headers)
        # A short-lived link to S3 (moto here): no invoice number in it, 60 s.
        assert response.status_code == 302
        link = response.headers["Location"]
        assert "X-Amz-Expires=60" in link
        assert "INV-" not in link
        with urllib.request.urlopen(link) as download:
            assert download.read() == PDF
            assert download.headers["Content-Type"] == "application/pdf"
            assert download.headers["Content-Disposition"].startswith("attachment; filename=")


def test_forged_links_are_404_pages(client: Client) -> None:
    for path in ("/v/forged", "/v/forged/pdf"):
        response = client.http.get(path)
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/html")
    assert (
        client.http.post(
            "/v/forged/seen", body="{}", headers={"Content-Type": "application/json"}
        ).status_code
        == 204
    )


def test_tracking_off_means_no_pixel_no_beacon_nothing_recorded(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key, tracking=False)["id"]
    html = html_of(message_to(stack, "ana@globex.example"))
    assert "/t/" not in html
    path = view_path(stack)
    page = client.http.get(path, headers=HUMAN).body.decode()
    assert "/seen" not in page
    client.http.post(
        f"{path}/seen", headers={**HUMAN, "Content-Type": "application/json"}, body="{}"
    )
    pixel = path.replace("/v/", "/t/") + ".gif"
    client.http.get(pixel, headers={"User-Agent": HUMAN_UA})
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    assert {e["type"] for e in events["items"]} == {"created", "sent"}
    assert recipient(client, api_key, invoice_id)["status"] == "sent"


def test_a_beacon_without_its_page_load_changes_nothing(
    client: Client, api_key: str, stack: Stack
) -> None:
    """Issue 14.3: one "simple" POST (text/plain, no CORS preflight) with a browser's
    user agent, the page never loaded, made the recipient viewed. Now text/plain is
    refused with Sobre's 415, and JSON without the page's nonce is a machine's."""
    invoice_id = send(client, api_key)["id"]
    path = view_path(stack)
    chrome = {"User-Agent": HUMAN_UA}
    plain = client.http.post(
        f"{path}/seen", headers={**chrome, "Content-Type": "text/plain"}, body="{}"
    )
    assert plain.status_code == 415
    error = plain.json_body["error"]
    assert (error["code"], error["details"]) == (
        "unsupported_media_type",
        {"content_type": "text/plain"},
    )
    assert error["message"]
    for body in ("{}", json.dumps({"trigger": "visible", "nonce": "AQEB" + "A" * 40})):
        response = client.http.post(
            f"{path}/seen", headers={**chrome, "Content-Type": "application/json"}, body=body
        )
        assert response.status_code == 204
    assert recipient(client, api_key, invoice_id)["status"] == "sent"
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    beacons = [e["details"] for e in events["items"] if e["type"] == "viewed"]
    assert sorted(d["reasons"][0] for d in beacons) == ["beacon:no-nonce", "beacon:nonce-forged"]
    assert {d["verdict"] for d in beacons} == {"scanner"}


def test_the_pixel_token_opens_no_invoice_and_the_view_token_counts_no_open(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice_id = send(client, api_key, pdf_base64=base64.b64encode(PDF).decode())["id"]
    pixel, view = pixel_path(stack), view_path(stack)
    pixel_token = pixel.removeprefix("/t/").removesuffix(".gif")
    view_token = view.removeprefix("/v/")
    assert pixel_token != view_token
    for path in (f"/v/{pixel_token}", f"/v/{pixel_token}/pdf"):
        assert client.http.get(path, headers=HUMAN).status_code == 404, path
    gif = client.http.get(f"/t/{view_token}.gif", headers=HUMAN)
    assert (gif.status_code, gif.headers["Content-Type"]) == (200, "image/gif")
    events = client.http.get(f"/invoices/{invoice_id}/events", headers=auth(api_key)).json_body
    assert not [e for e in events["items"] if e["type"] in ("open", "view")]
    assert client.http.get(view, headers=HUMAN).status_code == 200
