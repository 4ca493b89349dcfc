"""Operator commands (tools/admin.py) against moto: account settings, reclassify,
replaying kept payloads."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
from chalice.test import Client

from chalicelib.adapters.dynamo import unprocessed as dynamo_unprocessed
from chalicelib.container import context
from chalicelib.core.model import iso, parse_iso, utc_now
from chalicelib.core.status import Tally, refresh_statuses
from tests.integration.conftest import (
    FIXTURES,
    HUMAN,
    Stack,
    auth,
    html_of,
    invoice_body,
    message_to,
    pixel_path,
    post_invoice,
    sns_event,
)
from tools import admin

ONE = {"recipients": [{"email": "ana@globex.example"}]}


def test_account_settings_are_validated_and_applied(
    client: Client, api_key: str, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        admin.main(
            ["account", "--account", "acme", "--time-zone", "Mars/Olympus", "--retention-days", "0"]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert "time_zone" in error
    assert "retention_days" in error
    assert (
        admin.main(
            [
                "account",
                "--account",
                "acme",
                "--tracking",
                "off",
                "--retention-days",
                "30",
                "--time-zone",
                "Europe/Madrid",
            ]
        )
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert (shown["tracking"], shown["retention_days"], shown["time_zone"]) == (
        False,
        30,
        "Europe/Madrid",
    )
    invoice_id = post_invoice(client, api_key, invoice_body(**ONE)).json_body["id"]
    assert "/t/" not in html_of(message_to(stack, "ana@globex.example"))
    item = boto3.client("dynamodb").get_item(
        TableName="sobre", Key={"pk": {"S": f"INVOICE#{invoice_id}"}, "sk": {"S": "INVOICE"}}
    )["Item"]
    expires = int(item["expires_at"]["N"])
    created = parse_iso(item["created_at"]["S"])  # everything expires from creation
    assert abs(expires - (created + timedelta(days=30)).timestamp()) < 2


def test_reclassify_rejudges_stored_opens(client: Client, api_key: str, stack: Stack) -> None:
    invoice_id = post_invoice(client, api_key, invoice_body(**ONE)).json_body["id"]
    client.http.get(pixel_path(message_to(stack, "ana@globex.example")), headers=HUMAN)
    # Pretend older rules had judged this open a scanner's: its fact, the counters and
    # the summary as they would have been stored.
    ctx = context()
    store = ctx.invoices
    invoice = store.get_summary(invoice_id)
    assert invoice is not None
    [fact] = [e for e in store.facts_page(invoice_id, 100, None).events if e.type == "open"]
    fact.details["verdict"] = "scanner"
    fact.revision += 1
    assert store.set_verdict(invoice_id, fact)
    store.replace_counters(
        invoice_id,
        invoice.recipients[0].id,
        Tally(machine_open_count=1),
        ctx.invoice_expiry(invoice),
    )
    invoice.recipients[0].first_opened_at = None
    refresh_statuses(invoice)
    store.save_summary(invoice)
    assert (
        client.http.get("/invoices?status=opened", headers=auth(api_key)).json_body["items"] == []
    )

    assert admin.main(["reclassify"]) == 0
    listed = client.http.get("/invoices?status=opened", headers=auth(api_key)).json_body
    assert [i["id"] for i in listed["items"]] == [invoice_id]
    detail = client.http.get(f"/invoices/{invoice_id}", headers=auth(api_key)).json_body
    assert (detail["open_count"], detail["machine_open_count"]) == (1, 0)
    assert admin.main(["reclassify"]) == 0  # idempotent: nothing left to change


def test_kept_payloads_can_be_replayed_once_they_make_sense(
    client: Client, api_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    created = post_invoice(client, api_key, invoice_body(**ONE)).json_body
    message = json.loads((FIXTURES / "ses-events" / "event-delivery.awsdocs.json").read_text())
    message["mail"]["tags"].update({"sobre-account": ["acme"], "sobre-invoice": [created["id"]]})
    message["mail"]["destination"] = message["delivery"]["recipients"] = ["ana@globex.example"]
    # Delivered now: a 2016 delivery precedes the invoice and would never apply.
    message["mail"]["timestamp"] = message["delivery"]["timestamp"] = iso(utc_now())
    record = sns_event(json.dumps(message))["Records"][0]
    kept = dynamo_unprocessed.DynamoUnprocessedStore(180)
    kept.keep("2026-11-29T10:00:00.000Z", "kept by hand", json.dumps(record))
    kept.keep("2026-11-29T10:00:01.000Z", "garbage", json.dumps({"Sns": {"Message": "hi"}}))

    assert admin.main(["unprocessed", "list"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    listed = [line for line in lines if "reason" in line and "payload" in line]
    assert {item["reason"] for item in listed} == {"kept by hand", "garbage"}

    assert admin.main(["unprocessed", "replay", "--delete"]) == 0
    out = capsys.readouterr().out
    assert "processed" in out
    assert "unprocessable" in out
    remaining = kept.list_unprocessed(10)
    assert [item["reason"] for item in remaining] == ["garbage"]  # kept until it makes sense
    detail = client.http.get(f"/invoices/{created['id']}", headers=auth(api_key)).json_body
    assert detail["status"] == "delivered"
