"""Webhooks, alerts, evidence and the CSV export through Chalice's test client, against
moto, with a real receiver listening on 127.0.0.1: deliveries signed and verified,
retried on the schedule, a failing webhook disabled, nothing lost meanwhile."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.test import Client

from chalicelib import context as context_module
from chalicelib.adapters.dynamo.reports import DynamoReportStore
from chalicelib.adapters.webhook_http import HttpWebhookPoster
from chalicelib.alerts import service as alert_service
from chalicelib.container import context
from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT, Invoice, iso, utc_now
from chalicelib.core.webhooks import MAX_ATTEMPTS, RETRY_DELAYS, verify_signature
from chalicelib.tracking import ses_service
from chalicelib.tracking.ses_events import parse_notification
from tests.fakes_reports import ses_message
from tests.integration.conftest import (
    HUMAN,
    Stack,
    auth,
    invoice_body,
    invoke_sns,
    make_key,
    pixel_path,
    post_invoice,
    send_with,
    sent_messages,
)
from tests.integration.test_openapi import call, error_code
from tools import admin

OWNER = "owner@example.com"
RULE = "arn:aws:events:us-east-1:123456789012:rule/sobre-dev-alert_deliveries"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers ``status`` to every POST."""

    url: str = ""
    status: int = 204
    received: list[Received] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(state.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if state.status >= 300 else b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sobre"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def alerts_run(client: Client, at: datetime) -> dict[str, int]:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[RULE]
    )
    event["time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload: dict[str, int] = client.lambda_.invoke("alert_deliveries", event).payload
    return payload


@pytest.fixture
def key(stack: Stack) -> str:
    created = make_key("acme")
    assert admin.main(["account", "--account", "acme", "--report-address", OWNER]) == 0
    return created


def register(client: Client, key: str, url: str, *events: str) -> dict[str, Any]:
    chosen = list(events) or ["invoice.opened", "invoice.bounced", "invoice.complained"]
    response = call(
        client, "POST", "/webhooks", headers=auth(key), body={"url": url, "events": chosen}
    )
    assert response.status_code == 201, response.body
    created: dict[str, Any] = response.json_body
    return created


def later(minutes: float = 0, **delta: float) -> datetime:
    """A moment after everything the test did in real time (scheduled runs read tasks
    settled for 2 minutes)."""
    return utc_now() + timedelta(minutes=minutes, **delta)


# -- registering -----------------------------------------------------------------------------


def test_register_list_show_delete(client: Client, key: str, receiver: Receiver) -> None:
    created = register(client, key, receiver.url, "invoice.opened")
    assert created["secret"].startswith("whsec_")
    assert created["status"] == "active"
    listed = call(client, "GET", "/webhooks", headers=auth(key)).json_body["items"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]  # shown once, at creation
    shown = call(client, "GET", f"/webhooks/{created['id']}", headers=auth(key))
    assert shown.json_body == {k: v for k, v in created.items() if k != "secret"}
    assert call(client, "GET", "/webhooks", headers=auth(make_key("initech"))).json_body == {
        "items": []
    }
    other = call(client, "GET", f"/webhooks/{created['id']}", headers=auth(make_key("initech")))
    assert other.status_code == 404
    deleted = call(client, "DELETE", f"/webhooks/{created['id']}", headers=auth(key))
    assert deleted.status_code == 204
    gone = call(client, "GET", f"/webhooks/{created['id']}", headers=auth(key))
    assert (gone.status_code, error_code(gone)) == (404, "not_found")
    assert call(client, "GET", "/webhooks", headers=auth(key)).json_body == {"items": []}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"url": "http://10.0.0.1/hook", "events": ["invoice.opened"]}, {"url"}),
        ({"url": "ftp://hooks.example.com", "events": ["invoice.opened"]}, {"url"}),
        ({"url": "https://hooks.example.com", "events": ["invoice.refunded"]}, {"events"}),
        ({"url": "https://hooks.example.com", "events": []}, {"events"}),
    ],
)
def test_bad_webhooks_are_refused(
    client: Client, key: str, body: dict[str, Any], fields: set[str]
) -> None:
    response = call(
        client, "POST", "/webhooks", headers=auth(key), body=body, spec_accepts_request=False
    )
    assert response.status_code == 400
    assert {d["field"] for d in response.json_body["error"]["details"]} == fields


def test_a_private_https_address_is_refused_on_deployed_stages(
    client: Client, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOBRE_STAGE", "prod")
    from tests.integration.conftest import reset_caches

    reset_caches()
    body = {"url": "https://169.254.169.254/latest", "events": ["invoice.opened"]}
    response = client.http.post("/webhooks", headers=auth(key), body=json.dumps(body))
    assert response.status_code == 400
    assert "private" in response.json_body["error"]["details"][0]["message"]


# -- delivering ---------------------------------------------------------------------------------


def test_an_open_is_delivered_signed_and_emailed(
    client: Client, key: str, stack: Stack, receiver: Receiver
) -> None:
    hook = register(client, key, receiver.url, "invoice.opened")
    invoice = post_invoice(client, key, invoice_body()).json_body
    ana = next(m for m in sent_messages(stack) if m.to == "ana@globex.example")
    assert client.http.get(pixel_path(ana), headers=HUMAN).status_code == 200
    assert client.http.get(pixel_path(ana), headers=HUMAN).status_code == 200  # no new alert
    moment = later(5)
    outcome = alerts_run(client, moment)
    assert outcome == {"alert": 1, "alert_email_sent": 1, "delivered": 1}
    [request] = receiver.received
    assert request.path == "/hooks/sobre"
    payload = json.loads(request.body)
    assert (payload["type"], payload["data"]["invoice"]["id"]) == ("invoice.opened", invoice["id"])
    assert payload["data"]["recipient"]["email"] == "ana@globex.example"
    assert request.headers["Sobre-Event-Id"] == payload["id"]
    assert request.headers["Sobre-Timestamp"] == str(int(moment.replace(microsecond=0).timestamp()))
    assert verify_signature(hook["secret"], request.headers["Sobre-Signature"], request.body)
    assert not verify_signature("whsec_wrong", request.headers["Sobre-Signature"], request.body)
    [mail] = [m for m in sent_messages(stack) if m.to == OWNER]
    assert mail.subject == "Ana opened invoice INV-2026-001"
    deliveries = call(client, "GET", f"/webhooks/{hook['id']}/deliveries", headers=auth(key))
    [delivery] = deliveries.json_body["items"]
    assert (delivery["status"], delivery["attempts"], delivery["id"]) == (
        "delivered",
        1,
        payload["id"],
    )
    assert delivery["payload"] == payload
    assert delivery["history"][0]["status_code"] == 204
    assert alerts_run(client, later(10)) == {}  # nothing twice


def test_failures_are_retried_then_disable_the_webhook_and_nothing_is_lost(
    client: Client, key: str, stack: Stack, receiver: Receiver
) -> None:
    hook = register(client, key, receiver.url)
    receiver.status = 500
    created = post_invoice(client, key, invoice_body()).json_body
    invoice = context().invoices.get(created["id"])
    assert invoice is not None
    ana, luis = invoice.recipients
    bounce = ses_message(
        "Bounce",
        ana.message_id or "",
        ana.email,
        {TAG_ACCOUNT: "acme", TAG_INVOICE: invoice.id, TAG_RECIPIENT: ana.id},
        iso(utc_now()),
    )
    assert invoke_sns(client, json.dumps(bounce))["processed"] == 1
    moment = later(5)
    assert alerts_run(client, moment)["retrying"] == 1
    for delay in RETRY_DELAYS:
        moment += delay + timedelta(minutes=3)
        alerts_run(client, moment)
    assert len(receiver.received) == MAX_ATTEMPTS
    assert len({r.headers["Sobre-Event-Id"] for r in receiver.received}) == 1
    shown = call(client, "GET", f"/webhooks/{hook['id']}", headers=auth(key)).json_body
    assert shown["status"] == "disabled"
    assert "HTTP 500" in shown["disabled_reason"]
    assert shown["failing_since"] is not None
    # While it is disabled, a complaint is kept, not sent.
    down = moment + timedelta(hours=1)
    complaint = ses_message(
        "Complaint",
        luis.message_id or "",
        luis.email,
        {TAG_ACCOUNT: "acme", TAG_INVOICE: invoice.id, TAG_RECIPIENT: luis.id},
        iso(down),
    )
    notice = parse_notification(json.dumps(complaint))
    assert ses_service.apply_notification(replace(context(), clock=lambda: down), notice)
    assert alerts_run(client, down + timedelta(minutes=5))["delivery_held"] == 1
    assert len(receiver.received) == MAX_ATTEMPTS
    listed = call(client, "GET", f"/webhooks/{hook['id']}/deliveries?limit=1", headers=auth(key))
    first = listed.json_body
    assert len(first["items"]) == 1
    assert first["next"]
    rest = call(
        client,
        "GET",
        f"/webhooks/{hook['id']}/deliveries?limit=1&cursor={first['next']}",
        headers=auth(key),
    ).json_body
    kept = {d["event_type"]: d for d in first["items"] + rest["items"]}
    assert kept["invoice.complained"]["status"] == "held"
    assert kept["invoice.bounced"]["status"] == "failed"
    assert kept["invoice.bounced"]["attempts"] == MAX_ATTEMPTS
    assert [h["status_code"] for h in kept["invoice.bounced"]["history"]] == [500] * MAX_ATTEMPTS
    # The receiver is fixed and the webhook enabled: both events go out.
    receiver.status = 200
    up = down + timedelta(minutes=30)
    jobs = context_module.Jobs(
        replace(context(), clock=lambda: up), DynamoReportStore(), HttpWebhookPoster("local")
    )
    account = context().accounts.get_account("acme")
    assert account is not None
    enabled, queued = alert_service.enable_webhook(jobs, account, hook["id"])
    assert (enabled.status, queued) == ("active", 2)
    assert alerts_run(client, up + timedelta(minutes=5))["delivered"] == 2
    resent = [json.loads(r.body)["type"] for r in receiver.received[MAX_ATTEMPTS:]]
    assert sorted(resent) == ["invoice.bounced", "invoice.complained"]
    for request in receiver.received[MAX_ATTEMPTS:]:
        assert verify_signature(hook["secret"], request.headers["Sobre-Signature"], request.body)


def test_enable_answers_the_webhook_and_what_it_queued(
    client: Client, key: str, receiver: Receiver
) -> None:
    hook = register(client, key, receiver.url)
    store = DynamoReportStore()
    webhook = store.get_webhook("acme", hook["id"])
    assert webhook is not None
    store.put_webhook(replace(webhook, status="disabled", disabled_reason="test"))
    shown = call(client, "GET", f"/webhooks/{hook['id']}", headers=auth(key)).json_body
    assert shown["status"] == "disabled"
    response = call(client, "POST", f"/webhooks/{hook['id']}/enable", headers=auth(key))
    assert response.status_code == 200
    assert response.json_body["webhook"]["status"] == "active"
    assert response.json_body["webhook"]["disabled_reason"] is None
    assert response.json_body["requeued"] == 0


# -- evidence and export ---------------------------------------------------------------------------


@pytest.fixture
def delivered(client: Client, key: str, stack: Stack) -> str:
    """An invoice sent an hour ago, delivered to Ana (SES's report) a minute later, and
    opened by her now; its id."""
    sent = utc_now() - timedelta(hours=1)
    account = context().accounts.get_account("acme")
    assert account is not None
    at_sent = replace(context(), clock=lambda: sent)
    invoice: Invoice = send_with(at_sent, account, invoice_body())
    ana = invoice.recipients[0]
    delivery = ses_message(
        "Delivery",
        ana.message_id or "",
        ana.email,
        {TAG_ACCOUNT: "acme", TAG_INVOICE: invoice.id, TAG_RECIPIENT: ana.id},
        iso(sent + timedelta(minutes=1)),
    )
    assert invoke_sns(client, json.dumps(delivery))["processed"] == 1
    message = next(m for m in sent_messages(stack) if m.to == ana.email)
    assert client.http.get(pixel_path(message), headers=HUMAN).status_code == 200
    return invoice.id


def test_evidence_as_json_and_as_a_printable_page(client: Client, key: str, delivered: str) -> None:
    response = call(client, "GET", f"/invoices/{delivered}/evidence", headers=auth(key))
    assert response.status_code == 200
    ana, luis = response.json_body["recipients"]
    [delivery] = ana["deliveries"]
    assert delivery["smtp_response"].startswith("250 2.0.0 OK")
    assert delivery["remote_mta_ip"] == "203.0.113.25"
    [opened] = ana["opens"]
    assert (opened["verdict"], opened["person"], opened["counted"]) == ("human", True, True)
    assert luis["deliveries"] == []
    assert [m["kind"] for m in luis["messages"]] == ["invoice"]
    page = call(client, "GET", f"/invoices/{delivered}/evidence?format=html", headers=auth(key))
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert "250 2.0.0 OK" in html
    assert "<script" not in html
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    bad = call(
        client,
        "GET",
        f"/invoices/{delivered}/evidence?format=pdf",
        headers=auth(key),
        spec_accepts_request=False,
    )
    assert bad.status_code == 400
    other = call(
        client, "GET", f"/invoices/{delivered}/evidence", headers=auth(make_key("initech"))
    )
    assert other.status_code == 404


def test_the_csv_export_pages_with_a_link_header(client: Client, key: str, delivered: str) -> None:
    second = post_invoice(client, key, invoice_body(number="INV-2026-002")).json_body["id"]
    path = "/exports/events.csv?limit=1"
    rows: list[dict[str, str]] = []
    pages = 0
    while path:
        response = call(client, "GET", path, headers=auth(key))
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        rows.extend(csv.DictReader(io.StringIO(response.body.decode())))
        pages += 1
        link = response.headers.get("Link")
        path = link[1 : link.index(">")] if link else ""
        if path:
            assert urlsplit(path).path == "/exports/events.csv"
    assert pages == 2
    assert {r["invoice_id"] for r in rows} == {delivered, second}
    first_types = sorted(r["type"] for r in rows if r["invoice_id"] == delivered)
    assert first_types == ["created", "delivery", "open", "sent", "sent"]
    [opened] = [r for r in rows if r["type"] == "open"]
    assert (opened["recipient_email"], opened["verdict"], opened["person"]) == (
        "ana@globex.example",
        "human",
        "true",
    )
    [delivery] = [r for r in rows if r["type"] == "delivery"]
    assert delivery["smtp_response"].startswith("250 2.0.0 OK")


def test_the_csv_export_refuses_a_bad_range(client: Client, key: str) -> None:
    response = call(
        client, "GET", "/exports/events.csv?from=2026-02-01&to=2026-01-01", headers=auth(key)
    )
    assert response.status_code == 400
    assert response.json_body["error"]["details"][0]["field"] == "from"


def test_the_queue_keeps_alerts_in_one_batch_and_reads_them_across_hours(stack: Stack) -> None:
    from chalicelib.core.alerts import Alert

    store = DynamoReportStore()
    start = datetime(2026, 3, 1, 9, 58, tzinfo=UTC)

    def alert(n: int) -> Alert:
        return Alert(f"evt_{n}", "invoice.bounced", "acme", "inv_x", f"rcp_{n}", iso(start))

    store.record([alert(1), alert(2)], start)  # one BatchWriteItem
    store.record([alert(3)], start + timedelta(minutes=5))  # the next hour's bucket
    due = list(store.due(iso(start - timedelta(minutes=1)), iso(start + timedelta(hours=1))))
    assert [t.data["id"] for t in due] == ["evt_1", "evt_2", "evt_3"]
    assert [t.kind for t in due] == ["alert"] * 3
    # After the first: the two others; up to before the third: the first two.
    assert [t.id for t in store.due(due[0].position, iso(start + timedelta(hours=1)))] == [
        "evt_2",
        "evt_3",
    ]
    assert [t.id for t in store.due(iso(start - timedelta(minutes=1)), iso(start))] == [
        "evt_1",
        "evt_2",
    ]
    lease = store.lease(start, 240)
    assert lease is not None
    assert store.lease(start + timedelta(minutes=1), 240) is None  # held
    store.release(lease, due[1].position)
    again = store.lease(start + timedelta(minutes=2), 240)
    assert again is not None
    assert again.position == due[1].position
