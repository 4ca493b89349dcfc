"""The SES event path's hardening (issue 15) against the emulated AWS: what DynamoDB
keeps of an unprocessable payload, and an account's current tracking and retention
applied to invoices it already sent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
from chalice.test import Client

from chalicelib.core.model import iso, parse_iso, utc_now
from tests.integration.conftest import (
    FIXTURES,
    HUMAN,
    Stack,
    invoice_body,
    invoke_sns,
    message_to,
    pixel_path,
    post_invoice,
    reset_caches,
)
from tools import admin

ANA = "ana@globex.example"
ONE = {"recipients": [{"email": ANA}]}


def table_items(prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName="sobre")["Items"]
    return [i for i in items if i["pk"]["S"].startswith(prefix)]


def ses_open(invoice: dict[str, Any], ip: str, user_agent: Any) -> str:
    envelope = json.loads(
        (FIXTURES / "ses-events" / "sns-http-event-open-apple-mpp.spatie.json").read_text()
    )
    message = json.loads(envelope["Message"])
    message["mail"]["tags"].update(
        {
            "sobre-account": ["acme"],
            "sobre-invoice": [invoice["id"]],
            "sobre-recipient": [invoice["recipients"][0]["id"]],
        }
    )
    message["mail"]["destination"] = [ANA]
    message["mail"]["timestamp"] = message["open"]["timestamp"] = iso(utc_now())
    message["open"]["ipAddress"] = ip
    message["open"]["userAgent"] = user_agent
    return json.dumps(message)


def test_an_unprocessable_payload_is_kept_without_a_whole_ip(client: Client, api_key: str) -> None:
    invoice = post_invoice(client, api_key, invoice_body(**ONE)).json_body
    wrong = ses_open(invoice, "198.51.100.77", ["a", "list"])
    huge = "é" * 200_000 + " from 2001:db8:1234:5678::9"  # not JSON, 400 KB in UTF-8
    assert invoke_sns(client, wrong, huge) == {
        "processed": 0,
        "duplicate": 0,
        "ignored": 0,
        "unprocessable": 2,
    }
    kept = json.dumps(table_items("UNPROCESSED#"), ensure_ascii=False)
    assert len(table_items("UNPROCESSED#")) == 2
    assert "198.51.100.77" not in kept
    assert "2001:db8:1234:5678::9" not in kept
    assert "198.51.100.0" in kept


def test_turning_tracking_off_stops_recording_opens_of_sent_invoices(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice = post_invoice(client, api_key, invoice_body(**ONE)).json_body
    pixel = pixel_path(message_to(stack, ANA))
    assert admin.main(["account", "--account", "acme", "--tracking", "off"]) == 0
    reset_caches()  # a container whose cached account has expired (60 s)
    assert client.http.get(pixel, headers=HUMAN).status_code == 200
    opens = [
        i for i in table_items(f"INVOICE#{invoice['id']}") if i.get("type", {}).get("S") == "open"
    ]
    assert opens == []


def test_a_shorter_retention_shortens_the_next_writes(
    client: Client, api_key: str, stack: Stack
) -> None:
    invoice = post_invoice(client, api_key, invoice_body(**ONE)).json_body
    [summary_item] = [
        i for i in table_items(f"INVOICE#{invoice['id']}") if i["sk"]["S"] == "INVOICE"
    ]
    created = parse_iso(summary_item["created_at"]["S"])
    assert admin.main(["account", "--account", "acme", "--retention-days", "30"]) == 0
    reset_caches()
    assert client.http.get(pixel_path(message_to(stack, ANA)), headers=HUMAN).status_code == 200
    shortened = int((created + timedelta(days=30)).timestamp())
    items = {
        i["sk"]["S"]: int(i["expires_at"]["N"]) for i in table_items(f"INVOICE#{invoice['id']}")
    }
    summary = items.pop("INVOICE")
    opened = {sk: ttl for sk, ttl in items.items() if sk.startswith(("F#", "INVOICE#R#"))}
    assert opened
    # The open's fact, the counters and the summary (its first open) all take 30 days.
    assert abs(summary - shortened) < 2
    for sk, ttl in opened.items():
        if sk.startswith("INVOICE#R#") or "#px-" in sk:
            assert abs(ttl - shortened) < 2, sk
