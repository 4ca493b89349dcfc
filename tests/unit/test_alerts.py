"""Alerts and webhooks (chalicelib/core/alerts.py, webhooks.py, ssrf.py) and the alerts
job (chalicelib/alerts) over in-memory fakes: crossings, the recording hook, URL rules,
signatures, retries, disabling, held deliveries. No network: sockets are disabled."""

from __future__ import annotations

import email
import itertools
import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.webhook_http import HttpWebhookPoster
from chalicelib.alerts import delivery as alert_delivery
from chalicelib.alerts import service as alert_service
from chalicelib.alerts.validation import parse_webhook_request
from chalicelib.core import alerts, webhooks
from chalicelib.core.alerts import crossings
from chalicelib.core.model import (
    TAG_ACCOUNT,
    TAG_INVOICE,
    TAG_RECIPIENT,
    Account,
    Invoice,
    OutgoingEmail,
    iso,
    parse_iso,
)
from chalicelib.core.ssrf import url_problem
from chalicelib.core.webhooks import (
    DISABLE_AFTER,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    AttemptResult,
    Delivery,
    Webhook,
    after_attempt,
    signature,
    verify_signature,
    webhook_after,
)
from chalicelib.errors import Conflict, NotFound, ValidationFailed
from chalicelib.sending import service as sending_service
from chalicelib.tracking import service as tracking_service
from chalicelib.tracking import ses_service
from chalicelib.tracking.ses_events import parse_notification
from tests.fakes_reports import ReportWorld, make_report_world, ses_message

pytestmark = pytest.mark.disable_socket

UA_HUMAN = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 12_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
UA_MPP = "Mozilla/5.0"
PIXEL = re.compile(r'src="[^"]+/t/(?P<token>[A-Za-z0-9_-]+)\.gif"')
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def acme(**changes: Any) -> Account:
    account = Account(
        id="acme",
        name="Acme Ltd",
        from_address="billing@acme.example",
        report_address="owner@acme.example",
        time_zone="Europe/Madrid",
    )
    return replace(account, **changes)


@pytest.fixture
def rw() -> ReportWorld:
    w = make_report_world()
    w.world.accounts.put_account(acme())
    return w


def send(rw: ReportWorld, *emails: str) -> Invoice:
    body = {
        "number": "INV-7",
        "customer": {"name": "Globex"},
        "recipients": [{"email": e, "name": e.split("@")[0].title()} for e in emails],
        "currency": "EUR",
        "total": "100.00",
        "due_date": "2026-02-28",
    }
    account = rw.world.accounts.get_account("acme")
    assert account is not None
    return sending_service.send_invoice(rw.world.ctx, account, body, None).invoice


def body_of(outgoing: OutgoingEmail, kind: str = "html") -> str:
    message = email.message_from_bytes(outgoing.raw_mime, policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body((kind,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def token_of(rw: ReportWorld, address: str) -> str:
    [(_, outgoing)] = [(m, e) for m, e in rw.world.mailer.sent if e.to_address == address][:1]
    found = PIXEL.search(body_of(outgoing))
    assert found
    return found["token"]


def notify(rw: ReportWorld, invoice: Invoice, kind: str, address: str, at: datetime) -> str:
    recipient = invoice.recipient_by_email(address)
    assert recipient is not None
    tags = {TAG_ACCOUNT: "acme", TAG_INVOICE: invoice.id, TAG_RECIPIENT: recipient.id}
    message = ses_message(kind, recipient.message_id or "m", address, tags, iso(at))
    return ses_service.apply_notification(rw.world.ctx, parse_notification(json.dumps(message)))


def open_pixel(rw: ReportWorld, address: str, ua: str = UA_HUMAN, request: str = "r1") -> bool:
    token = token_of(rw, address)
    return tracking_service.record_pixel_open(
        rw.world.ctx, token, ua, "203.0.113.7", "GET", request
    )


# -- crossings ------------------------------------------------------------------------------


def test_a_persons_first_open_records_one_alert_and_repeats_record_none(rw: ReportWorld) -> None:
    invoice = send(rw, "ana@globex.example", "ben@globex.example")
    rw.world.clock.advance(hours=2)
    assert open_pixel(rw, "ana@globex.example", request="r1")
    [alert] = rw.store.recorded_alerts()
    assert (alert.type, alert.invoice_id, alert.account_id) == (
        "invoice.opened",
        invoice.id,
        "acme",
    )
    ana = rw.world.invoices.invoices[invoice.id].recipient_by_email("ana@globex.example")
    assert ana is not None
    assert (alert.recipient_id, alert.at) == (ana.id, ana.first_opened_at)
    assert alert.id == alerts.alert_id(invoice.id, ana.id, "invoice.opened", alert.at)
    saves = rw.world.invoices.saves
    rw.world.clock.advance(minutes=10)
    assert open_pixel(rw, "ana@globex.example", request="r2")  # recorded, no crossing
    assert rw.world.invoices.saves == saves  # a repeat open writes no summary
    assert len(rw.store.tasks) == 1


def test_a_machine_open_records_no_alert(rw: ReportWorld) -> None:
    send(rw, "ana@globex.example")
    rw.world.clock.advance(hours=2)
    assert open_pixel(rw, "ana@globex.example", ua=UA_MPP)
    assert rw.store.tasks == {}


def test_bounce_and_complaint_are_alerts_and_a_duplicate_is_not(rw: ReportWorld) -> None:
    invoice = send(rw, "ana@globex.example", "ben@globex.example")
    assert notify(rw, invoice, "Bounce", "ana@globex.example", T0) == "processed"
    assert notify(rw, invoice, "Bounce", "ana@globex.example", T0) == "duplicate"
    assert notify(rw, invoice, "Complaint", "ben@globex.example", T0 + timedelta(minutes=1))
    types = sorted(a.type for a in rw.store.recorded_alerts())
    assert types == ["invoice.bounced", "invoice.complained"]


def test_a_delivery_is_no_alert(rw: ReportWorld) -> None:
    invoice = send(rw, "ana@globex.example")
    assert notify(rw, invoice, "Delivery", "ana@globex.example", T0) == "processed"
    assert rw.store.tasks == {}


def test_crossings_only_count_moves_up_to_an_alerted_status(rw: ReportWorld) -> None:
    invoice = send(rw, "ana@globex.example", "ben@globex.example")
    stored = rw.world.invoices.invoices[invoice.id]
    ana, ben = stored.recipients
    ana.status, ana.first_opened_at = "opened", iso(T0)
    ben.status, ben.viewed_at = "viewed", iso(T0)
    assert [a.type for a in crossings({ana.id: "delivered", ben.id: "delivered"}, stored)] == [
        "invoice.opened",
        "invoice.viewed",
    ]
    assert crossings({ana.id: "opened", ben.id: "viewed"}, stored) == []
    assert crossings({ana.id: "viewed", ben.id: "bounced"}, stored) == []  # moves down


def test_the_pixel_still_records_when_the_outbox_fails(rw: ReportWorld) -> None:
    rw.store.fail_record = True
    invoice = send(rw, "ana@globex.example")
    rw.world.clock.advance(hours=2)
    assert open_pixel(rw, "ana@globex.example")
    assert rw.world.invoices.invoices[invoice.id].status == "opened"
    assert rw.world.metrics.counts["AlertsNotRecorded"] == 1


# -- webhook URLs and signatures --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",
        "http://127.0.0.1:8080/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.9/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://localhost/hook",
        "https://metadata.google.internal/x",
        "https://intranet/hook",
        "https://user:pw@hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "https://hooks.example.com:99999/x",
        "",
        None,
    ],
)
def test_deployed_stages_refuse_unsafe_urls(url: Any) -> None:
    assert url_problem(url, "prod") is not None


def test_deployed_stages_take_public_https_urls() -> None:
    assert url_problem("https://hooks.example.com/sobre?x=1", "prod") is None
    assert url_problem("https://93.184.216.34:8443/hook", "prod") is None


def test_the_local_stage_also_takes_http_to_127_0_0_1_only() -> None:
    assert url_problem("http://127.0.0.1:8080/hook", "local") is None
    assert url_problem("http://localhost:8080/hook", "local") is not None
    assert url_problem("http://10.0.0.1/hook", "local") is not None
    assert url_problem("https://10.0.0.1/hook", "local") is not None


def test_a_name_resolving_inside_is_refused_when_delivering() -> None:
    poster = HttpWebhookPoster("prod", resolver=lambda host, port: ["10.0.0.7"])
    result = poster.post("https://hooks.example.com/x", b"{}", {})
    assert result.status_code is None
    assert result.error is not None
    assert "10.0.0.7" in result.error
    assert not result.ok


def test_a_webhook_request_reports_every_problem() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_webhook_request({"url": "http://x", "events": ["invoice.refunded"], "x": 1}, "prod")
    assert {d["field"] for d in caught.value.details} == {"url", "events", "x"}
    url, events = parse_webhook_request(
        {"url": "https://h.example.com/", "events": ["invoice.bounced", "invoice.opened"]}, "prod"
    )
    assert (url, events) == ("https://h.example.com/", ["invoice.opened", "invoice.bounced"])


def test_signatures_verify_and_anything_changed_does_not() -> None:
    body = b'{"id":"evt_1"}'
    header = signature("whsec_abc", 1767600000, body)
    assert re.fullmatch(r"t=1767600000,v1=[0-9a-f]{64}", header)
    assert verify_signature("whsec_abc", header, body, now=1767600100)
    assert not verify_signature("whsec_abc", header, body + b" ", now=1767600100)
    assert not verify_signature("whsec_other", header, body, now=1767600100)
    assert not verify_signature("whsec_abc", header, body, now=1767600000 + 301)
    assert not verify_signature("whsec_abc", header.replace("t=1767600000", "t=1767600001"), body)


# -- retries and disabling ----------------------------------------------------------------------


def test_a_delivery_is_retried_on_the_schedule_then_fails() -> None:
    delivery = Delivery("whk_1", "acme", "evt_1", "invoice.opened", iso(T0), iso(T0), "{}")
    now, seen = T0, []
    for _ in range(MAX_ATTEMPTS):
        delivery = after_attempt(delivery, AttemptResult(503, "busy"), now)
        seen.append(delivery.next_attempt_at)
        if delivery.next_attempt_at:
            now = parse_iso(delivery.next_attempt_at)
    assert delivery.status == "failed"
    assert delivery.attempts == MAX_ATTEMPTS
    assert seen[-1] is None
    gaps = [parse_iso(b) - parse_iso(a) for a, b in itertools.pairwise(seen) if a and b]
    assert gaps == list(RETRY_DELAYS[1:])
    assert [h["status_code"] for h in delivery.history] == [503] * MAX_ATTEMPTS


def test_a_webhook_failing_for_a_day_is_disabled_with_a_reason_and_success_heals() -> None:
    webhook = Webhook("whk_1", "acme", "https://h.example.com", ["invoice.opened"], "s", "t")
    failing = webhook_after(webhook, AttemptResult(None, "timed out"), T0)
    assert failing is not None
    assert (failing.status, failing.failing_since) == ("active", iso(T0))
    still = webhook_after(failing, AttemptResult(500, "oops"), T0 + DISABLE_AFTER / 2)
    assert still is not None
    assert still.status == "active"
    disabled = webhook_after(still, AttemptResult(500, "oops"), T0 + DISABLE_AFTER)
    assert disabled is not None
    assert disabled.status == "disabled"
    assert disabled.disabled_reason is not None
    assert "24 hours" in disabled.disabled_reason
    assert "HTTP 500" in disabled.disabled_reason
    healed = webhook_after(still, AttemptResult(204, None), T0 + DISABLE_AFTER / 2)
    assert healed is not None
    assert (healed.failing_since, healed.last_error) == (None, None)
    assert webhook_after(healed, AttemptResult(200, None), T0) is None  # nothing to write


# -- the alerts job ----------------------------------------------------------------------------


def register(rw: ReportWorld, *events: str) -> Webhook:
    account = rw.world.accounts.get_account("acme")
    assert account is not None
    return alert_service.create_webhook(
        rw.jobs,
        account,
        {"url": "https://hooks.example.com/sobre", "events": list(events or alerts.EVENT_TYPES)},
    )


def run(rw: ReportWorld, at: datetime) -> dict[str, int]:
    return alert_delivery.run_alerts(rw.at(at))


def alert_emails(rw: ReportWorld) -> list[OutgoingEmail]:
    return [e for _, e in rw.world.mailer.sent if e.to_address == "owner@acme.example"]


def test_an_alert_goes_by_email_and_to_subscribed_webhooks_once(rw: ReportWorld) -> None:
    rw.world.clock.set(T0)
    hook = register(rw, "invoice.opened")
    other = register(rw, "invoice.bounced")
    send(rw, "ana@globex.example")
    rw.world.clock.advance(hours=1)
    open_pixel(rw, "ana@globex.example")
    assert run(rw, T0 + timedelta(hours=1, minutes=1)) == {}  # not settled yet
    outcome = run(rw, T0 + timedelta(hours=1, minutes=5))
    assert outcome == {"alert": 1, "alert_email_sent": 1, "delivered": 1}
    [posted] = rw.poster.posted
    assert posted.url == "https://hooks.example.com/sobre"
    payload = json.loads(posted.body)
    assert payload["type"] == "invoice.opened"
    assert payload["data"]["recipient"]["email"] == "ana@globex.example"
    assert posted.headers["Sobre-Event-Id"] == payload["id"]
    assert verify_signature(hook.secret, posted.headers["Sobre-Signature"], posted.body)
    assert posted.headers["Sobre-Timestamp"] == str(
        int((T0 + timedelta(hours=1, minutes=5)).timestamp())
    )
    [mail] = alert_emails(rw)
    assert "Ana opened invoice INV-7" in body_of(mail, "plain")
    assert "Ana opened invoice INV-7" in body_of(mail, "html")
    assert rw.store.deliveries(other.id, 10, None) == ([], None)
    # The same tasks are never taken twice, and a second run finds nothing new.
    assert run(rw, T0 + timedelta(hours=1, minutes=10)) == {}
    assert len(rw.poster.posted) == 1
    assert len(alert_emails(rw)) == 1


def test_a_second_run_while_one_holds_the_queue_does_nothing(rw: ReportWorld) -> None:
    assert rw.store.lease(T0, 240) is not None
    assert run(rw, T0 + timedelta(minutes=1)) == {"busy": 1}
    assert run(rw, T0 + timedelta(minutes=5)) == {}  # the lease ran out


def test_failing_deliveries_retry_then_disable_the_webhook_and_are_kept(rw: ReportWorld) -> None:
    rw.world.clock.set(T0)
    hook = register(rw)
    rw.poster.status = 500
    invoice = send(rw, "ana@globex.example", "ben@globex.example")
    notify(rw, invoice, "Bounce", "ana@globex.example", T0)
    moment = T0 + timedelta(minutes=3)
    run(rw, moment)
    attempts = [1]
    for delay in RETRY_DELAYS:
        early = run(rw, moment + delay)  # due, but not settled yet: nothing happens
        assert "retrying" not in early
        assert "delivery_failed" not in early
        moment += delay + timedelta(minutes=3)  # each run at its due time, plus the settle
        run(rw, moment)
        [delivery], _ = rw.store.deliveries(hook.id, 10, None)
        attempts.append(delivery.attempts)
    assert attempts == list(range(1, MAX_ATTEMPTS + 1))
    assert len(rw.poster.posted) == MAX_ATTEMPTS
    assert delivery.status == "failed"
    account = rw.world.accounts.get_account("acme")
    assert account is not None
    shown = alert_service.get_webhook(rw.jobs, account, hook.id)
    assert shown.status == "disabled"
    assert shown.disabled_reason is not None
    assert "HTTP 500" in shown.disabled_reason
    # While it is disabled, new events are kept, not sent.
    later = moment + timedelta(hours=1)
    rw.world.clock.set(later)
    notify(rw, invoice, "Complaint", "ben@globex.example", later)
    assert run(rw, later + timedelta(minutes=5))["delivery_held"] == 1
    assert len(rw.poster.posted) == MAX_ATTEMPTS
    items, _ = rw.store.deliveries(hook.id, 10, None)
    assert sorted(d.status for d in items) == ["failed", "held"]
    # Fixed and enabled: both go out.
    rw.poster.status = 200
    rw.world.clock.set(later + timedelta(minutes=10))
    enabled, queued = alert_service.enable_webhook(rw.jobs, account, hook.id)
    assert (enabled.status, queued) == ("active", 2)
    assert run(rw, later + timedelta(minutes=15))["delivered"] == 2
    items, _ = rw.store.deliveries(hook.id, 10, None)
    assert [d.status for d in items] == ["delivered", "delivered"]
    assert {json.loads(p.body)["type"] for p in rw.poster.posted[-2:]} == {
        "invoice.bounced",
        "invoice.complained",
    }


def test_one_failing_webhook_is_tried_once_per_run(rw: ReportWorld) -> None:
    rw.world.clock.set(T0)
    hook = register(rw)
    rw.poster.status = None
    invoice = send(rw, "ana@globex.example", "ben@globex.example", "cleo@globex.example")
    for address in ("ana@globex.example", "ben@globex.example", "cleo@globex.example"):
        notify(rw, invoice, "Bounce", address, T0)
    outcome = run(rw, T0 + timedelta(minutes=5))
    assert outcome["retrying"] == 1
    assert outcome["delivery_deferred"] == 2
    assert len(rw.poster.posted) == 1
    items, _ = rw.store.deliveries(hook.id, 10, None)
    assert sorted(d.attempts for d in items) == [0, 0, 1]


def test_a_deleted_webhook_gets_nothing_and_is_not_found(rw: ReportWorld) -> None:
    rw.world.clock.set(T0)
    hook = register(rw)
    account = rw.world.accounts.get_account("acme")
    assert account is not None
    alert_service.delete_webhook(rw.jobs, account, hook.id)
    invoice = send(rw, "ana@globex.example")
    notify(rw, invoice, "Bounce", "ana@globex.example", T0)
    run(rw, T0 + timedelta(minutes=5))
    assert rw.poster.posted == []
    assert alert_service.list_webhooks(rw.jobs, account) == []
    with pytest.raises(NotFound):
        alert_service.get_webhook(rw.jobs, account, hook.id)


def test_at_most_ten_webhooks(rw: ReportWorld) -> None:
    for _ in range(webhooks.MAX_WEBHOOKS):
        register(rw)
    with pytest.raises(Conflict):
        register(rw)


def test_no_alert_email_when_the_account_turns_them_off(rw: ReportWorld) -> None:
    rw.world.accounts.put_account(acme(alert_emails=False))
    rw.world.clock.set(T0)
    invoice = send(rw, "ana@globex.example")
    notify(rw, invoice, "Bounce", "ana@globex.example", T0)
    assert run(rw, T0 + timedelta(minutes=5)) == {"alert": 1}
    assert alert_emails(rw) == []


def test_the_readme_snippet_verifies_sobres_signatures() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Reports, reminders and alerts", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert found, "no Python snippet in README's webhook section"
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md", "exec"), namespace)
    verify = namespace["verify"]
    body = b'{"id":"evt_x","type":"invoice.opened"}'
    now = int(time.time())
    assert verify("whsec_k", signature("whsec_k", now, body), body)
    assert not verify("whsec_k", signature("whsec_k", now, body), body + b" ")
    assert not verify("whsec_other", signature("whsec_k", now, body), body)
    assert not verify("whsec_k", signature("whsec_k", now - 3600, body), body)  # a replay
    assert not verify("whsec_k", "v1=abc", body)
