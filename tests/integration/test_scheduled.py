"""The scheduled jobs through Chalice's test client, against moto: the digest at 07:00
in the account's time zone, once a day; reminders; ``POST /invoices/{id}/remind``; the
operator's ``run-schedule``. Each run is a generated scheduled event whose ``time`` is
the moment under test; data "from yesterday" is written through a ``Context`` whose
clock is set (``dataclasses.replace(context(), clock=...)``)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.adapters.dynamo.reports import DynamoReportStore
from chalicelib.container import context
from chalicelib.context import Context
from chalicelib.core.model import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT, Account, Invoice, iso
from chalicelib.tracking import service as tracking_service
from tests.fakes_reports import ses_message
from tests.integration.conftest import (
    HUMAN,
    HUMAN_UA,
    Stack,
    auth,
    drain_sends,
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
from tools.local_mail import LocalMessage

OWNER = "owner@example.com"
DIGEST_RULE = "arn:aws:events:us-east-1:123456789012:rule/sobre-dev-hourly_reports"


def scheduled_event(client: Client, at: datetime) -> dict[str, Any]:
    """What EventBridge sends a scheduled function: ``time`` is the scheduled moment."""
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[DIGEST_RULE]
    )
    event["time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return event


def hourly(client: Client, at: datetime) -> dict[str, int]:
    payload: dict[str, int] = client.lambda_.invoke(
        "hourly_reports", scheduled_event(client, at)
    ).payload
    return payload


def settings(*args: str, command: str = "reports") -> None:
    assert admin.main([command, "--account", "acme", *args]) == 0


def to(stack: Stack, address: str) -> list[LocalMessage]:
    return [m for m in sent_messages(stack) if m.to == address]


def at_clock(moment: datetime) -> Context:
    return replace(context(), clock=lambda: moment)


def the_account() -> Account:
    account = context().accounts.get_account("acme")
    assert account is not None
    return account


def deliver(client: Client, invoice: Invoice, address: str, at: datetime, kind: str) -> None:
    recipient = invoice.recipient_by_email(address)
    assert recipient is not None
    assert recipient.message_id is not None
    tags = {TAG_ACCOUNT: "acme", TAG_INVOICE: invoice.id, TAG_RECIPIENT: recipient.id}
    message = ses_message(kind, recipient.message_id, address, tags, iso(at))
    assert invoke_sns(client, json.dumps(message))["processed"] == 1


def send_at(moment: datetime, **body: Any) -> Invoice:
    invoice: Invoice = send_with(at_clock(moment), the_account(), invoice_body(**body))
    return invoice


@pytest.fixture
def acme(stack: Stack) -> str:
    key = make_key("acme")
    settings("--report-address", OWNER, "--time-zone", "Europe/Madrid", command="account")
    return key


# -- the digest ------------------------------------------------------------------------------


def test_an_account_in_madrid_gets_its_digest_at_six_utc_in_winter_once(
    client: Client, stack: Stack, acme: str
) -> None:
    settings("--digest-when-quiet", "on")  # a quiet day: sent only because it asks
    assert hourly(client, datetime(2026, 1, 15, 5, 0, tzinfo=UTC)) == {"not_due": 1}
    assert to(stack, OWNER) == []
    first = hourly(client, datetime(2026, 1, 15, 6, 0, tzinfo=UTC))
    assert first == {"digest_sent": 1, "reminders": 0}
    # The schedule firing twice, and the next hour's run: still one digest.
    assert hourly(client, datetime(2026, 1, 15, 6, 0, tzinfo=UTC))["digest_already_sent"] == 1
    assert hourly(client, datetime(2026, 1, 15, 7, 0, tzinfo=UTC))["digest_already_sent"] == 1
    [digest] = to(stack, OWNER)
    assert digest.source.endswith("billing@example.com")
    assert "Jan 14, 2026" in digest.subject
    assert "Nothing happened that day." in (digest.text() or "")
    assert DynamoReportStore().marker("DIGEST#acme#2026-01-14") is not None
    # In summer Madrid is UTC+2: 05:00 UTC.
    assert hourly(client, datetime(2026, 7, 15, 4, 0, tzinfo=UTC)) == {"not_due": 1}
    assert hourly(client, datetime(2026, 7, 15, 5, 0, tzinfo=UTC))["digest_sent"] == 1


def test_no_digest_for_a_quiet_day_by_default(client: Client, stack: Stack, acme: str) -> None:
    assert hourly(client, datetime(2026, 1, 15, 6, 0, tzinfo=UTC))["digest_quiet"] == 1
    assert to(stack, OWNER) == []


def test_the_digest_counts_yesterdays_events_from_the_index(
    client: Client, stack: Stack, acme: str
) -> None:
    yesterday = datetime(2026, 1, 14, 9, 0, tzinfo=UTC)
    invoice = send_at(yesterday)  # ana and luis
    deliver(client, invoice, "ana@globex.example", yesterday + timedelta(minutes=1), "Delivery")
    deliver(client, invoice, "luis@globex.example", yesterday + timedelta(minutes=1), "Bounce")
    [ana_message] = to(stack, "ana@globex.example")
    token = pixel_path(ana_message).removeprefix("/t/").removesuffix(".gif")
    opened_at = at_clock(yesterday + timedelta(hours=3))
    assert tracking_service.record_pixel_open(
        opened_at, token, HUMAN_UA, "198.51.100.4", "GET", "r-1"
    )
    send_at(datetime(2026, 1, 15, 5, 30, tzinfo=UTC), number="INV-TODAY")  # today, not counted
    assert hourly(client, datetime(2026, 1, 15, 6, 0, tzinfo=UTC))["digest_sent"] == 1
    [digest] = to(stack, OWNER)
    text = digest.text() or ""
    figures = dict(re.findall(r"^(\w[\w ]+?)\s{2,}(\d+)\s", text, flags=re.MULTILINE))
    assert figures == {
        "Sent": "2",
        "Delivered": "1",
        "Opened by a person": "1",
        "Viewed online": "0",
        "Bounced": "1",
        "Marked as spam": "0",
    }
    assert "luis@globex.example - Bounced (Permanent / General" in text
    assert digest.subject == "acme, Jan 14, 2026: sent 2, opened 1, bounced or complained 1"
    html = digest.html() or ""
    assert re.findall(r'<table class="bar"[^>]*\swidth="(\d+)%"', html) == ["100", "50", "50", "50"]


# -- reminders -------------------------------------------------------------------------------


def test_reminders_through_the_schedule(client: Client, stack: Stack, acme: str) -> None:
    settings("--reminders", "on", "--reminder-after-days", "3", "--reminder-max", "1")
    sent = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    invoice = send_at(sent, recipients=[{"email": "ana@globex.example", "name": "Ana"}])
    deliver(client, invoice, "ana@globex.example", sent + timedelta(minutes=1), "Delivery")
    assert hourly(client, datetime(2026, 1, 8, 6, 30, tzinfo=UTC))["reminders"] == 0
    assert hourly(client, datetime(2026, 1, 9, 6, 30, tzinfo=UTC))["reminders"] == 1
    assert len(to(stack, "ana@globex.example")) == 1  # queued: the sender mails it
    assert hourly(client, datetime(2026, 1, 9, 6, 45, tzinfo=UTC))["reminders"] == 0  # claimed
    assert drain_sends(client, stack.send_queue_url) == 1
    assert hourly(client, datetime(2026, 1, 9, 7, 30, tzinfo=UTC))["reminders"] == 0
    assert hourly(client, datetime(2026, 1, 13, 6, 30, tzinfo=UTC))["reminders"] == 0  # max 1
    original, reminder = to(stack, "ana@globex.example")
    assert reminder.subject == "Reminder: Invoice INV-2026-001 from acme"
    assert pixel_path(reminder) == pixel_path(original)
    detail = client.http.get(f"/invoices/{invoice.id}", headers=auth(acme)).json_body
    assert detail["reminders_sent"] == 1
    assert detail["last_reminder_at"] > "2026-01-09T06:30"  # when the sender mailed it
    events = client.http.get(f"/invoices/{invoice.id}/events", headers=auth(acme)).json_body
    [fact] = [e for e in events["items"] if e["type"] == "reminder"]
    assert fact["details"]["trigger"] == "scheduled"
    assert fact["details"]["message_id"] == reminder.message_id
    # SES's events about the reminder map back to the same recipient by its message id.
    assert context().invoices.get_message_ref(reminder.message_id) is not None


def test_remind_now_then_nothing_left_to_remind(client: Client, stack: Stack, acme: str) -> None:
    created = post_invoice(client, acme, invoice_body()).json_body
    reminded = call(client, "POST", f"/invoices/{created['id']}/remind", headers=auth(acme))
    assert reminded.status_code == 202
    assert (reminded.json_body["reminder"], reminded.json_body["reminders_sent"]) == (1, 0)
    assert sorted(r["email"] for r in reminded.json_body["queued"]) == [
        "ana@globex.example",
        "luis@globex.example",
    ]
    # The client's requests run the send queue after them, as the local stack would.
    detail = client.http.get(f"/invoices/{created['id']}", headers=auth(acme)).json_body
    assert detail["reminders_sent"] == 1
    for address in ("ana@globex.example", "luis@globex.example"):
        assert len(to(stack, address)) == 2
        response = client.http.get(pixel_path(to(stack, address)[-1]), headers=HUMAN)
        assert response.status_code == 200
    conflict = call(client, "POST", f"/invoices/{created['id']}/remind", headers=auth(acme))
    assert conflict.status_code == 409
    assert error_code(conflict) == "conflict"
    other = call(
        client, "POST", f"/invoices/{created['id']}/remind", headers=auth(make_key("initech"))
    )
    assert other.status_code == 404


# -- the operator's "now" ---------------------------------------------------------------------


def test_run_schedule_now_sends_the_last_24_hours(
    client: Client, stack: Stack, acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    post_invoice(client, acme, invoice_body())
    capsys.readouterr()  # the API's metrics
    assert admin.main(["run-schedule", "--now", "--account", "acme"]) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["digest"], outcome["reminders"]) == ("sent", 0)
    [digest] = to(stack, OWNER)
    assert digest.subject.startswith("acme, last 24 hours: sent 2,")
    assert "Your invoices in the last 24 hours" in (digest.text() or "")
    assert re.search(r"^Sent\s+2\s", digest.text() or "", flags=re.MULTILINE)
    assert admin.main(["run-schedule", "--now", "--account", "nobody"]) == 2


def test_the_operator_can_run_the_hourly_job_at_a_chosen_time(
    stack: Stack, acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings("--digest-when-quiet", "on")
    capsys.readouterr()
    run: Callable[[str], int] = lambda at: admin.main(  # noqa: E731
        ["run-schedule", "--job", "hourly", "--at", at]
    )
    assert run("2026-03-02T06:00:00Z") == 0
    assert json.loads(capsys.readouterr().out)["hourly"]["digest_sent"] == 1
    assert run("2026-03-02T06:30:00Z") == 0
    assert json.loads(capsys.readouterr().out)["hourly"]["digest_already_sent"] == 1
