"""Digest, reminders, evidence and the CSV export (chalicelib/reports) over in-memory
fakes, with the clock set by hand (``Context.clock``)."""

from __future__ import annotations

import csv
import email
import io
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest

from chalicelib.accounts import service as account_service
from chalicelib.core.model import (
    TAG_ACCOUNT,
    TAG_INVOICE,
    TAG_RECIPIENT,
    Account,
    Invoice,
    OutgoingEmail,
    TimelineEvent,
    iso,
)
from chalicelib.core.privacy import MAX_USER_AGENT
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.http import json_text
from chalicelib.reports import export as report_export
from chalicelib.reports import service as report_jobs
from chalicelib.reports import views as report_views
from chalicelib.reports.digest import digest_day, previous_day
from chalicelib.reports.evidence import CSV_COLUMNS, csv_cell, render_evidence_html
from chalicelib.sending import service as sending_service
from chalicelib.sending.reminders import reminder_due
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service
from chalicelib.tracking.ses_events import parse_notification
from tests.fakes import FakeAccountStore
from tests.fakes_reports import ReportWorld, make_report_world, ses_message

pytestmark = pytest.mark.disable_socket

UA_HUMAN = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
PIXEL = re.compile(r'src="[^"]+/t/(?P<token>[A-Za-z0-9_-]+)\.gif"')
VIEW = re.compile(r'href="[^"]+/v/(?P<token>[A-Za-z0-9_-]+)"')
REPORTS = "owner@acme.example"
# 14 January 2026, Madrid (UTC+1 in winter): "yesterday" for a digest on the 15th.
YESTERDAY = datetime(2026, 1, 14, 9, 0, tzinfo=UTC)
DIGEST_RUN = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)  # 07:00 in Madrid


def acme(**changes: Any) -> Account:
    account = Account(
        id="acme",
        name="Acme Ltd",
        from_address="billing@acme.example",
        report_address=REPORTS,
        time_zone="Europe/Madrid",
    )
    return replace(account, **changes)


@pytest.fixture
def rw() -> ReportWorld:
    w = make_report_world()
    w.world.accounts.put_account(acme())
    return w


def account_of(rw: ReportWorld) -> Account:
    account = rw.world.accounts.get_account("acme")
    assert account is not None
    return account


def send(rw: ReportWorld, number: str, *emails: str, **extra: Any) -> Invoice:
    body = {
        "number": number,
        "customer": {"name": f"Customer of {number}"},
        "recipients": [{"email": e, "name": e.split("@")[0].title()} for e in emails],
        "currency": "EUR",
        "total": "100.00",
        "due_date": "2026-02-28",
        **extra,
    }
    return sending_service.send_invoice(rw.world.ctx, account_of(rw), body, None).invoice


def notify(rw: ReportWorld, invoice: Invoice, kind: str, address: str, at: datetime) -> None:
    recipient = rw.world.invoices.invoices[invoice.id].recipient_by_email(address)
    assert recipient is not None
    tags = {TAG_ACCOUNT: "acme", TAG_INVOICE: invoice.id, TAG_RECIPIENT: recipient.id}
    message = ses_message(kind, recipient.message_id or "m", address, tags, iso(at))
    ses_service.apply_notification(rw.world.ctx, parse_notification(json.dumps(message)))


def part(outgoing: OutgoingEmail, kind: str) -> str:
    message = email.message_from_bytes(outgoing.raw_mime, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body((kind,))
    assert body is not None
    content = body.get_content()
    assert isinstance(content, str)
    return content


def subject(outgoing: OutgoingEmail) -> str:
    message = email.message_from_bytes(outgoing.raw_mime, policy=policy.default)
    return str(message["Subject"])


def token(outgoing: OutgoingEmail) -> str:
    found = PIXEL.search(part(outgoing, "html"))
    assert found
    return found["token"]


def sent_to(rw: ReportWorld, address: str) -> list[OutgoingEmail]:
    return [e for _, e in rw.world.mailer.sent if e.to_address == address]


def open_as_person(rw: ReportWorld, outgoing: OutgoingEmail, request: str) -> None:
    assert tracking_service.record_pixel_open(
        rw.world.ctx, token(outgoing), UA_HUMAN, "203.0.113.7", "GET", request
    )


# -- when the digest is due ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "zone", "due"),
    [
        # Madrid is UTC+1 in winter: 07:00 there is 06:00 UTC.
        (datetime(2026, 1, 15, 5, 59, tzinfo=UTC), "Europe/Madrid", None),
        (datetime(2026, 1, 15, 6, 0, tzinfo=UTC), "Europe/Madrid", date(2026, 1, 15)),
        # ... and UTC+2 in summer: 05:00 UTC.
        (datetime(2026, 7, 15, 4, 59, tzinfo=UTC), "Europe/Madrid", None),
        (datetime(2026, 7, 15, 5, 0, tzinfo=UTC), "Europe/Madrid", date(2026, 7, 15)),
        # A missed run catches up until 11:59 local, never later.
        (datetime(2026, 1, 15, 10, 59, tzinfo=UTC), "Europe/Madrid", date(2026, 1, 15)),
        (datetime(2026, 1, 15, 11, 0, tzinfo=UTC), "Europe/Madrid", None),
        # New York (UTC-5): the 07:00 of the 15th is 12:00 UTC; 06:00 UTC is the night.
        (datetime(2026, 1, 15, 6, 0, tzinfo=UTC), "America/New_York", None),
        (datetime(2026, 1, 15, 12, 0, tzinfo=UTC), "America/New_York", date(2026, 1, 15)),
        # Auckland (UTC+13 in January): 07:00 on the 16th is 18:00 UTC on the 15th.
        (datetime(2026, 1, 15, 18, 0, tzinfo=UTC), "Pacific/Auckland", date(2026, 1, 16)),
    ],
)
def test_the_digest_is_due_at_seven_local_time(now: datetime, zone: str, due: date | None) -> None:
    assert digest_day(now, zone) == due


def test_yesterday_is_the_local_day_even_when_the_clocks_change() -> None:
    winter = previous_day(date(2026, 1, 15), "Europe/Madrid")
    assert (winter.start, winter.end) == ("2026-01-13T23:00:00.000Z", "2026-01-14T23:00:00.000Z")
    # 29 March 2026: Madrid moves to summer time, a 23-hour day.
    spring = previous_day(date(2026, 3, 30), "Europe/Madrid")
    assert (spring.start, spring.end) == ("2026-03-28T23:00:00.000Z", "2026-03-29T22:00:00.000Z")


# -- the digest ---------------------------------------------------------------------------------


def busy_yesterday(rw: ReportWorld) -> dict[str, Invoice]:
    """Invoices with everything a digest reports, on 14 January (Madrid)."""
    clock = rw.world.clock
    clock.set(datetime(2026, 1, 9, 10, 0, tzinfo=UTC))
    stale = send(rw, "INV-OLD", "late@payer.example")  # delivered on the 9th, never opened
    notify(rw, stale, "Delivery", "late@payer.example", clock() + timedelta(minutes=1))
    clock.set(YESTERDAY)
    opened = send(rw, "INV-1", "ana@globex.example", "ben@globex.example")
    for address in ("ana@globex.example", "ben@globex.example"):
        notify(rw, opened, "Delivery", address, clock() + timedelta(minutes=1))
    clock.advance(hours=2)
    open_as_person(rw, sent_to(rw, "ana@globex.example")[0], "req-ana")
    bounced = send(rw, "INV-2", "nobody@initech.example")
    notify(rw, bounced, "Bounce", "nobody@initech.example", clock() + timedelta(minutes=1))
    # Activity today (the 15th, Madrid) is not yesterday's.
    clock.set(DIGEST_RUN - timedelta(minutes=30))
    send(rw, "INV-TODAY", "today@globex.example")
    return {"stale": stale, "opened": opened, "bounced": bounced}


def digests(rw: ReportWorld) -> list[OutgoingEmail]:
    return sent_to(rw, REPORTS)


def test_the_digest_reports_yesterday_in_the_accounts_time_zone(rw: ReportWorld) -> None:
    busy_yesterday(rw)
    outcome = report_jobs.run_hourly(rw.at(DIGEST_RUN))
    assert outcome == {"digest_sent": 1, "reminders": 0}
    [digest] = digests(rw)
    assert digest.from_address == "billing@acme.example"
    assert digest.tags == {TAG_ACCOUNT: "acme", "sobre-kind": "digest"}
    assert subject(digest) == ("Acme Ltd, Jan 14, 2026: sent 3, opened 1, bounced or complained 1")
    text = part(digest, "plain")
    figures = {
        label: int(value)
        for label, value in re.findall(r"^(\w[\w ]+?)\s{2,}(\d+)\s", text, flags=re.MULTILINE)
    }
    assert figures == {
        "Sent": 3,
        "Delivered": 2,
        "Opened by a person": 1,
        "Viewed online": 0,
        "Bounced": 1,
        "Marked as spam": 0,
    }
    assert "Wednesday, January 14, 2026" in text
    # Delivered on the 9th and never opened: listed (INV-1 was opened, INV-2 bounced).
    assert re.search(r"- INV-OLD, Customer of INV-OLD: .*\(5 days\) - late@payer\.example", text)
    assert "INV-1," not in text.split("Delivered, not opened")[1].split("Bounces")[0]
    assert re.search(
        r"- INV-2, .*nobody@initech\.example - "
        r"Bounced \(Permanent / General / smtp; 550 5\.1\.1 user unknown\)",
        text,
    )
    html = part(digest, "html")
    # The chart: table cells with widths and colours, nothing a mail client blocks.
    assert "<script" not in html
    assert "<svg" not in html
    assert "<img" not in html
    bars = re.findall(r'<table class="bar"[^>]*\swidth="(\d+)%"', html)
    assert bars == ["100", "67", "33", "33"]  # sent 3, delivered 2, opened 1, bounced 1


def test_at_most_one_digest_a_day_however_often_the_schedule_fires(rw: ReportWorld) -> None:
    busy_yesterday(rw)
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN))["digest_sent"] == 1
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN))["digest_already_sent"] == 1
    later = report_jobs.run_hourly(rw.at(DIGEST_RUN + timedelta(hours=1)))
    assert later["digest_already_sent"] == 1
    assert len(digests(rw)) == 1
    assert rw.store.markers["DIGEST#acme#2026-01-14"]["state"] == "sent"
    # Before 07:00 and after the catch-up hours, nothing is even tried.
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN - timedelta(hours=1))) == {"not_due": 1}
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN + timedelta(hours=6))) == {"not_due": 1}


def test_a_failed_send_is_retried_by_the_next_run(rw: ReportWorld) -> None:
    busy_yesterday(rw)
    rw.world.mailer.refuse(REPORTS)
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN)) == {"failed": 1}
    assert rw.store.markers["DIGEST#acme#2026-01-14"]["state"] == "failed"
    rw.world.mailer.accept(REPORTS)
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN + timedelta(hours=1)))["digest_sent"] == 1


def test_a_quiet_day_sends_nothing_unless_the_account_asks(rw: ReportWorld) -> None:
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN))["digest_quiet"] == 1
    assert digests(rw) == []
    rw.world.accounts.put_account(acme(digest_when_quiet=True))
    nextday = DIGEST_RUN + timedelta(days=1)
    assert report_jobs.run_hourly(rw.at(nextday))["digest_sent"] == 1
    [digest] = digests(rw)
    assert "Nothing happened that day." in part(digest, "plain")


def test_no_report_address_no_digest(rw: ReportWorld) -> None:
    rw.world.accounts.put_account(acme(report_address=None, digest_when_quiet=True))
    assert report_jobs.run_hourly(rw.at(DIGEST_RUN)) == {"digest_no_address": 1, "reminders": 0}
    assert rw.world.mailer.sent == []


def test_the_digest_speaks_the_accounts_language(rw: ReportWorld) -> None:
    rw.world.accounts.put_account(acme(locale="es"))
    busy_yesterday(rw)
    report_jobs.run_hourly(rw.at(DIGEST_RUN))
    [digest] = digests(rw)
    assert subject(digest) == (
        "Acme Ltd, 14 ene 2026: enviadas 3, abiertas 1, rebotadas o con queja 1"
    )
    assert "Sus facturas el miércoles, 14 de enero de 2026" in part(digest, "plain")
    assert "Abiertas por una persona" in part(digest, "html")


def test_report_settings_are_validated() -> None:
    accounts = FakeAccountStore()
    accounts.put_account(acme())
    with pytest.raises(ValidationFailed) as caught:
        account_service.update_report_settings(
            accounts, "acme", {"reminders": "yes", "reminder_max": 99, "colour": "red"}
        )
    assert {d["field"] for d in caught.value.details} == {"reminders", "reminder_max", "colour"}
    changed = account_service.update_report_settings(
        accounts, "acme", {"reminders": True, "reminder_after_days": 5}
    )
    assert (changed.reminders, changed.reminder_after_days, changed.reminder_max) == (True, 5, 2)
    with pytest.raises(NotFound):
        account_service.update_report_settings(accounts, "nobody", {})


# -- reminders ----------------------------------------------------------------------------------


def delivered_invoice(rw: ReportWorld, at: datetime) -> Invoice:
    rw.world.clock.set(at)
    invoice = send(rw, "INV-9", "ana@globex.example", "ben@globex.example", "bad@nowhere.example")
    notify(rw, invoice, "Delivery", "ana@globex.example", at + timedelta(minutes=1))
    notify(rw, invoice, "Delivery", "ben@globex.example", at + timedelta(minutes=1))
    notify(rw, invoice, "Bounce", "bad@nowhere.example", at + timedelta(minutes=1))
    return invoice


def morning(day: int) -> datetime:
    return datetime(2026, 1, day, 6, 30, tzinfo=UTC)  # 07:30 in Madrid


def test_reminders_are_off_by_default(rw: ReportWorld) -> None:
    delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    report_jobs.run_hourly(rw.at(morning(12)))
    assert len(sent_to(rw, "ana@globex.example")) == 1


def test_reminders_go_after_n_days_to_who_has_not_opened_at_most_k_times(rw: ReportWorld) -> None:
    rw.world.accounts.put_account(acme(reminders=True, reminder_after_days=3, reminder_max=2))
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    report_jobs.run_hourly(rw.at(morning(8)))  # delivered 2 days 21 hours ago: too early
    assert len(sent_to(rw, "ana@globex.example")) == 1
    assert report_jobs.run_hourly(rw.at(morning(9)))["reminders"] == 1
    original, reminder = sent_to(rw, "ana@globex.example")
    assert subject(reminder) == "Reminder: Invoice INV-9 from Acme Ltd"
    # Tracked exactly like the original: same pixel, same "View invoice" link, same tags.
    assert token(reminder) == token(original)
    assert VIEW.findall(part(reminder, "html")) == VIEW.findall(part(original, "html"))
    assert reminder.tags == original.tags
    assert len(sent_to(rw, "ben@globex.example")) == 2
    assert len(sent_to(rw, "bad@nowhere.example")) == 1  # bounced: never reminded
    stored = rw.world.invoices.invoices[invoice.id]
    assert (stored.reminders_sent, stored.last_reminder_at) == (1, iso(morning(9)))
    facts = [e for e in rw.world.invoices.history(invoice.id) if e.type == "reminder"]
    assert sorted(e.recipient_id or "" for e in facts) == sorted(
        r.id for r in stored.recipients if r.email != "bad@nowhere.example"
    )
    message_ids = {e.details["message_id"] for e in facts}
    assert {rw.world.invoices.get_message_ref(m) is not None for m in message_ids} == {True}
    assert {e.details["n"] for e in facts} == {1}
    # The next hour, and the next days until N days after the reminder: nothing more.
    report_jobs.run_hourly(rw.at(morning(9) + timedelta(hours=1)))
    report_jobs.run_hourly(rw.at(morning(11)))
    assert len(sent_to(rw, "ana@globex.example")) == 2
    assert report_jobs.run_hourly(rw.at(morning(12)))["reminders"] == 1
    assert report_jobs.run_hourly(rw.at(morning(15)))["reminders"] == 0  # K = 2
    assert len(sent_to(rw, "ana@globex.example")) == 3
    assert rw.world.invoices.invoices[invoice.id].reminders_sent == 2


def test_an_open_of_the_reminder_counts_for_the_same_recipient(rw: ReportWorld) -> None:
    rw.world.accounts.put_account(acme(reminders=True))
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert report_jobs.run_hourly(rw.at(morning(9)))["reminders"] == 1
    reminder = sent_to(rw, "ben@globex.example")[-1]
    rw.world.clock.advance(hours=3)
    open_as_person(rw, reminder, "req-ben")
    stored = rw.world.invoices.get(invoice.id)
    assert stored is not None
    ben = stored.recipient_by_email("ben@globex.example")
    assert ben is not None
    assert (ben.status, ben.open_count, stored.status) == ("opened", 1, "opened")
    # Opened now: no more reminders for anyone.
    assert not reminder_due(stored, 3, 5, morning(20))
    assert report_jobs.run_hourly(rw.at(morning(12)))["reminders"] == 0


def test_an_invoice_opened_by_a_person_is_never_reminded(rw: ReportWorld) -> None:
    rw.world.accounts.put_account(acme(reminders=True))
    delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rw.world.clock.set(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    open_as_person(rw, sent_to(rw, "ana@globex.example")[0], "req-ana")
    assert report_jobs.run_hourly(rw.at(morning(9)))["reminders"] == 0


def test_remind_now_sends_one_or_answers_conflict(rw: ReportWorld) -> None:
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rw.world.clock.set(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    rw.world.sends.auto = False  # the sender runs later: the answer says what is queued
    reminded = report_jobs.remind_now(rw.jobs, account_of(rw), invoice.id)
    response = report_views.reminder_response(reminded)
    assert (response["reminder"], response["reminders_sent"]) == (1, 0)
    assert sorted(r["email"] for r in response["queued"]) == [
        "ana@globex.example",
        "ben@globex.example",
    ]
    assert [(s.attempt, s.reminder) for s in rw.world.sends.queued[-2:]] == [(1, "manual")] * 2
    with pytest.raises(Conflict, match="being sent"):  # queued, not sent yet: not twice
        report_jobs.remind_now(rw.jobs, account_of(rw), invoice.id)
    rw.world.sends.drain()
    stored = rw.world.invoices.invoices[invoice.id]
    assert stored.reminders_sent == 1
    assert [subject(e) for e in sent_to(rw, "ben@globex.example")][-1].startswith("Reminder:")
    facts = [e for e in rw.world.invoices.history(invoice.id) if e.type == "reminder"]
    assert sorted((f.details["trigger"], bool(f.details["message_id"])) for f in facts) == [
        ("manual", True),
        ("manual", True),
    ]
    for address, request in (("ana@globex.example", "a"), ("ben@globex.example", "b")):
        rw.world.clock.advance(hours=1)
        open_as_person(rw, sent_to(rw, address)[-1], request)
    with pytest.raises(Conflict) as caught:
        report_jobs.remind_now(rw.jobs, account_of(rw), invoice.id)
    assert caught.value.details["statuses"]["bad@nowhere.example"] == "bounced"
    other = Account(id="globex", name="Globex", from_address="ar@globex.example")
    with pytest.raises(NotFound):
        report_jobs.remind_now(rw.jobs, other, invoice.id)


# -- evidence and CSV -------------------------------------------------------------------------


def test_evidence_has_every_delivery_bounce_open_and_reminder(rw: ReportWorld) -> None:
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rw.world.clock.set(datetime(2026, 1, 5, 11, 0, tzinfo=UTC))
    open_as_person(rw, sent_to(rw, "ana@globex.example")[0], "req-1")
    assert tracking_service.record_pixel_open(
        rw.world.ctx, token(sent_to(rw, "ana@globex.example")[0]), "Mozilla/5.0", None, "GET", "x"
    )
    report_jobs.remind_now(rw.jobs, account_of(rw), invoice.id)
    report = json.loads(
        report_export.invoice_evidence(rw.jobs, account_of(rw), invoice.id, json_text)
    )
    ana, ben, bad = report["recipients"]
    [delivery] = ana["deliveries"]
    assert delivery["smtp_response"].startswith("250 2.0.0 OK")
    assert delivery["remote_mta_ip"] == "203.0.113.25"
    assert [(o["verdict"], o["person"]) for o in ana["opens"]] == [
        ("human", True),
        ("privacy_prefetch", False),
    ]
    assert ana["opens"][0]["reasons"]
    assert [m["kind"] for m in ana["messages"]] == ["invoice"]  # opened: not reminded
    assert [m["kind"] for m in ben["messages"]] == ["invoice", "reminder"]
    assert ben["messages"][1]["message_id"]
    [bounce] = bad["bounces"]
    assert (bounce["type"], bounce["diagnostic"]) == ("Permanent", "smtp; 550 5.1.1 user unknown")
    html = render_evidence_html(report)
    assert "250 2.0.0 OK" in html
    assert "privacy_prefetch" in html
    assert "<script" not in html


def test_csv_export_pages_through_the_accounts_invoices(rw: ReportWorld) -> None:
    first = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rw.world.clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
    second = send(rw, "=HYPERLINK(1)", "carl@globex.example")
    account = account_of(rw)
    rows: list[list[str]] = []
    cursor, pages = None, 0
    while True:
        page = report_export.export_events(rw.jobs, account, "2026-01-01", None, cursor, "1")
        rows.extend(page.rows)
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == 2
    assert {r[0] for r in rows} == {first.id, second.id}
    types = [r[CSV_COLUMNS.index("type")] for r in rows if r[0] == first.id]
    assert types.count("delivery") == 2
    assert types.count("bounce") == 1
    # A spreadsheet formula in a value is neutralised.
    assert {r[1] for r in rows if r[0] == second.id} == {"'=HYPERLINK(1)"}
    # Serialised and read back, the CSV has the same rows.
    buffer = io.StringIO()
    csv.writer(buffer).writerows([list(CSV_COLUMNS), *rows])
    parsed = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert len(parsed) == len(rows)
    assert parsed[0].keys() == set(CSV_COLUMNS)
    # A window that ends before the second invoice exists leaves it out.
    narrow = report_export.export_events(rw.jobs, account, "2026-01-05", "2026-01-06", None, None)
    assert {r[0] for r in narrow.rows} == {first.id}


def _flood(rw: ReportWorld, invoice: Invoice, facts: int, user_agent: str) -> None:
    """``facts`` pixel facts of the invoice's first recipient, one a second."""
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    for n in range(facts):
        fact = TimelineEvent(
            key=f"px-flood-{n}",
            at=iso(start + timedelta(seconds=n)),
            type="open",
            recipient_id=invoice.recipients[0].id,
            source="pixel",
            details={"user_agent": user_agent, "verdict": "scanner", "counted": True},
        )
        assert rw.world.invoices.add_fact(invoice.id, fact, 0)


@pytest.mark.parametrize(
    ("render", "agent", "shown_as"),
    [
        (json_text, "\u0416", "\\u0416"),  # 2 bytes in UTF-8, 6 in JSON's escape
        (render_evidence_html, '"', "&#34;"),  # 1 byte, 5 in HTML
    ],
)
def test_evidence_of_a_flood_stays_an_answer_lambda_can_send(
    rw: ReportWorld, render: Callable[[dict[str, Any]], str], agent: str, shown_as: str
) -> None:
    """3,000 fetches with the longest user agent kept, of characters the answer's format
    escapes: the evidence keeps the oldest that fit in EVIDENCE_BYTES and says it is not
    complete, instead of an answer over Lambda's 6 MB."""
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    _flood(rw, invoice, 3000, agent * MAX_USER_AGENT)
    body = report_export.invoice_evidence(rw.jobs, account_of(rw), invoice.id, render)
    assert len(body.encode()) <= report_export.EVIDENCE_BYTES
    assert 500 < body.count(shown_as * MAX_USER_AGENT) < 3000
    if render is json_text:
        report = json.loads(body)
        assert report["complete"] is False
        opens = report["recipients"][0]["opens"]
        assert opens[0]["at"] == "2026-01-05T12:00:00.000Z"  # the oldest kept


def test_csv_export_splits_a_flood_by_bytes_and_loses_no_row(rw: ReportWorld) -> None:
    """Rows of 4-byte characters: pages end at EXPORT_BYTES, not only at EXPORT_ROWS,
    and the pages together hold every fact exactly once."""
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    _flood(rw, invoice, 3000, "\U0001f4e7" * MAX_USER_AGENT)
    rw.world.clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
    keys: list[str] = []
    cursor, pages = None, 0
    while True:
        page = report_export.export_events(
            rw.jobs, account_of(rw), "2026-01-01", None, cursor, None
        )
        assert len(report_views.csv_body(page).encode()) <= report_export.EXPORT_BYTES + 1000
        keys += [
            r[CSV_COLUMNS.index("at")] for r in page.rows if r[CSV_COLUMNS.index("type")] == "open"
        ]
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break
    assert pages >= 2
    assert len(keys) == len(set(keys)) == 3000


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start_text": "yesterday"}, "from"),
        ({"start_text": "2026-01-10", "end_text": "2026-01-01"}, "from"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "bm9wZQ"}, "cursor"),
    ],
)
def test_csv_export_refuses_bad_queries(rw: ReportWorld, query: dict[str, str], field: str) -> None:
    values: dict[str, Any] = {"start_text": None, "end_text": None, "cursor": None, "limit": None}
    values.update(query)
    with pytest.raises(ValidationFailed) as caught:
        report_export.export_events(rw.jobs, account_of(rw), **values)
    assert [d["field"] for d in caught.value.details] == [field]


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=1+1", "'=1+1"), ("+34 600", "'+34 600"), ("@x", "'@x"), ("Acme", "Acme"), (None, "")],
)
def test_csv_cells_never_start_a_formula(value: Any, cell: str) -> None:
    assert csv_cell(value) == cell


def test_the_export_starts_each_invoice_with_its_creation_and_resumes_after_it(
    rw: ReportWorld,
) -> None:
    """The creation is no fact: the export writes its row before the invoice's facts, and
    a page that stops right after it (or before it) goes on without losing or repeating
    a row."""
    invoice = delivered_invoice(rw, datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    rw.world.clock.set(datetime(2026, 1, 6, 9, 0, tzinfo=UTC))
    account = account_of(rw)
    start, end = "2026-01-01T00:00:00.000Z", "2026-01-07T00:00:00.000Z"
    type_at = CSV_COLUMNS.index("type")

    full = report_export._Rows(rows=[["x"]] * report_export.EXPORT_ROWS)
    where = report_export._invoice_rows(rw.jobs, account, invoice.id, start, end, None, full)
    assert where == report_export.NOT_STARTED
    assert len(full.rows) == report_export.EXPORT_ROWS  # nothing of it was taken

    rows = report_export._Rows()
    assert report_export._invoice_rows(rw.jobs, account, invoice.id, start, end, None, rows) is None
    types = [r[type_at] for r in rows.rows]
    assert types[0] == "created"
    assert types.count("created") == 1
    assert sorted(types[1:]) == ["bounce", "delivery", "delivery", "sent", "sent", "sent"]

    again = report_export._Rows()
    resumed = report_export._invoice_rows(
        rw.jobs, account, invoice.id, start, end, report_export.CREATED, again
    )
    assert resumed is None
    assert [r[type_at] for r in again.rows] == types[1:]  # its facts, without the creation
