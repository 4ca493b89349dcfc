"""The outbox (infra/outbox.py) against moto: lists what the app sent, shows each message
as a mail client would, serves its raw MIME and attachments, and escapes everything."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.settings import get_settings
from infra.demo import minimal_pdf
from infra.outbox import Outbox, make_server
from tests.integration.conftest import (
    Stack,
    html_of,
    invoice_body,
    message_to,
    post_invoice,
    sent_view,
)
from tools.local_mail import SobreLookup

HOSTILE = '<script>alert("x")</script> & Co'
PDF = minimal_pdf("Invoice INV-2026-001", ["Total: EUR 1210.00"])


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def get(url: str) -> Answer:
    try:
        with urllib.request.urlopen(url) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.headers, exc.read())


@pytest.fixture
def outbox(stack: Stack) -> Iterator[str]:
    server = make_server(0, Outbox(stack.endpoint, SobreLookup(get_settings())), None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sent(client: Client, api_key: str) -> dict[str, Any]:
    body = invoice_body(
        customer={"name": HOSTILE},
        subject=f"Invoice for {HOSTILE}",
        pdf_base64=base64.b64encode(PDF).decode(),
    )
    created = post_invoice(client, api_key, body).json_body
    assert created["status"] == "queued"
    view = sent_view(client, api_key, created["id"])
    assert view["status"] == "sent"
    return view


def test_the_list_shows_every_message_with_its_invoice(
    outbox: str, sent: dict[str, Any], stack: Stack
) -> None:
    page = get(f"{outbox}/")
    assert page.status == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none'
    for recipient in sent["recipients"]:
        assert f'href="/messages/{recipient["message_id"]}"' in page.text
        assert recipient["email"] in page.text
    assert "<script>" not in page.text
    assert "Invoice for &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in page.text
    assert page.text.count("INV-2026-001") == 2

    listed = json.loads(get(f"{outbox}/messages.json").body)
    assert [m["to"] for m in listed] == [["luis@globex.example"], ["ana@globex.example"]]
    assert {m["invoice_id"] for m in listed} == {sent["id"]}
    assert {m["recipient_status"] for m in listed} == {"sent"}
    assert {m["recipient_id"] for m in listed} == {r["id"] for r in sent["recipients"]}
    assert listed[0]["attachments"] == ["INV-2026-001.pdf"]
    assert listed[0]["sent_at"]


def test_a_message_is_shown_as_a_mail_client_shows_it(
    outbox: str, sent: dict[str, Any], stack: Stack
) -> None:
    ana = next(r for r in sent["recipients"] if r["email"] == "ana@globex.example")
    message = f"{outbox}/messages/{ana['message_id']}"
    page = get(message)
    assert page.status == 200
    iframe = (
        f'<iframe title="The message as a mail client shows it" src="{message[len(outbox) :]}/html"'
    )
    assert f'{iframe} sandbox="allow-popups allow-popups-to-escape-sandbox"' in page.text
    assert "<script>" not in page.text
    assert f'href="/messages/{ana["message_id"]}/attachments/1">INV-2026-001.pdf</a>' in page.text
    assert f'href="/messages/{ana["message_id"]}.eml"' in page.text

    html = get(f"{message}/html")
    assert html.status == 200
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = html.headers["Content-Security-Policy"]
    assert "img-src http: https: data:" in policy
    assert "sandbox" in policy
    assert "script-src" not in policy  # default-src 'none' forbids scripts
    sent_html = html_of(message_to(stack, "ana@globex.example"))
    assert html.text == sent_html
    assert "/t/" in html.text  # the tracking pixel, loaded by whoever opens it

    text = get(f"{message}/text")
    assert text.status == 200
    assert "INV-2026-001" in text.text


def test_raw_mime_and_attachments_download(outbox: str, sent: dict[str, Any], stack: Stack) -> None:
    ana = next(r for r in sent["recipients"] if r["email"] == "ana@globex.example")
    eml = get(f"{outbox}/messages/{ana['message_id']}.eml")
    assert eml.status == 200
    assert eml.headers["Content-Type"] == "message/rfc822"
    assert eml.headers["Content-Disposition"] == f'attachment; filename="{ana["message_id"]}.eml"'
    assert eml.text == message_to(stack, "ana@globex.example").raw

    pdf = get(f"{outbox}/messages/{ana['message_id']}/attachments/1")
    assert pdf.status == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.headers["Content-Disposition"] == "attachment; filename*=UTF-8''INV-2026-001.pdf"
    assert pdf.body == PDF


@pytest.mark.parametrize(
    "path",
    [
        "/messages/no-such-message",
        "/messages/no-such-message.eml",
        "/messages/{id}/attachments/2",
        "/messages/{id}/attachments/0",
        "/messages/../../etc/passwd",
        "/nothing",
    ],
)
def test_what_does_not_exist_is_a_404(outbox: str, sent: dict[str, Any], path: str) -> None:
    answer = get(outbox + path.format(id=sent["recipients"][0]["message_id"]))
    assert answer.status == 404


def test_the_outbox_lists_mail_the_app_did_not_send(outbox: str, stack: Stack) -> None:
    import boto3

    boto3.client("sesv2", region_name="us-east-1").send_email(
        FromEmailAddress="billing@example.com",
        Destination={"ToAddresses": ["someone@elsewhere.example"]},
        Content={
            "Simple": {"Subject": {"Data": "Hello <you>"}, "Body": {"Html": {"Data": "<p>Hi</p>"}}}
        },
    )
    listed = json.loads(get(f"{outbox}/messages.json").body)
    assert [(m["to"], m["subject"], m["invoice_id"]) for m in listed] == [
        (["someone@elsewhere.example"], "Hello <you>", None)
    ]
    page = get(f"{outbox}/")
    assert "Hello &lt;you&gt;" in page.text
    assert "not sent by Sobre" in page.text
    assert get(f"{outbox}/messages/{listed[0]['id']}/html").text.strip() == "<p>Hi</p>"
