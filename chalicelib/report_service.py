"""Reports, reminders, alerts and evidence: the use cases of the scheduled jobs
(``chalicelib/scheduled.py``) and of the report routes (``chalicelib/webhooks_api.py``).

They run over ``Jobs``: the core ``Context`` (its clock is the scheduled event's time,
so a job is reproducible), a ``ReportStore`` and a ``WebhookPoster``. Every piece of
work that must happen at most once claims a marker first (a digest a day, a reminder,
an alert email); webhook deliveries are items of their own, retried from a queue of due
tasks that one run at a time reads behind a lease. See docs/DESIGN.md, "Reports,
reminders and alerts".
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib import service
from chalicelib.alerts import (
    MAX_WEBHOOKS,
    RETRY_DELAYS,
    Alert,
    AttemptResult,
    Delivery,
    Task,
    Webhook,
    after_attempt,
    delivery_headers,
    delivery_task,
    event_body,
    new_secret,
    new_webhook_id,
    parse_webhook_request,
    webhook_after,
)
from chalicelib.errors import ConcurrentUpdate, Conflict, NotFound
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.model import Invoice, Recipient, iso, parse_iso
from chalicelib.observability import logger
from chalicelib.ports import (
    Account,
    AccountStore,
    InvalidCursor,
    MessageRef,
    OutgoingEmail,
    ReportStore,
    SendRejected,
    WebhookPoster,
)
from chalicelib.reports import (
    Period,
    build_digest,
    compose,
    digest_day,
    last_hours,
    previous_day,
    remindable,
    reminder_due,
    reminder_subject,
    render_alert,
    render_digest,
)
from chalicelib.ses_events import TAG_ACCOUNT, TAG_INVOICE, TAG_RECIPIENT
from chalicelib.status import Fact

MARKER_TTL = timedelta(days=40)
# Tasks are read once they are this old, so that a write still in flight when a run
# reads the queue (its time taken a moment before it lands) is never skipped.
SETTLE = timedelta(minutes=2)
LEASE_SECONDS = 240
FIRST_RUN_LOOKBACK = timedelta(days=1)
TASK_RETRIES = 5  # a task that keeps raising is retried this often, then dropped (logged)
REMINDER_LOOKBACK = timedelta(days=7)
UNOPENED_READ_LIMIT = 2000
REMINDER_CANDIDATES = 500
PAGE = 100
TAG_KIND = "sobre-kind"


@dataclass
class Jobs:
    ctx: service.Context
    store: ReportStore
    poster: WebhookPoster
    budget_seconds: float = 40.0  # a run stops taking tasks after this (Lambda timeout 60 s)
    max_tasks: int = 500

    @property
    def now(self) -> datetime:
        return self.ctx.clock()

    def expires(self, ttl: timedelta = MARKER_TTL) -> int:
        return int((self.now + ttl).timestamp())


def production_jobs(now: datetime | None = None) -> Jobs:
    """The jobs over DynamoDB, SES and HTTP; ``now`` fixes their clock (a scheduled
    event's time)."""
    from chalicelib.container import context
    from chalicelib.dynamo_reports import DynamoReportStore
    from chalicelib.webhook_client import HttpWebhookPoster

    ctx = context()
    if now is not None:
        fixed = now
        ctx = replace(ctx, clock=lambda: fixed)
    return Jobs(ctx, DynamoReportStore(), HttpWebhookPoster(ctx.settings.stage))


# -- account settings -----------------------------------------------------------------------

# name -> (kind, lowest, highest); booleans have no range.
REPORT_SETTINGS: dict[str, tuple[type, int, int]] = {
    "digest_when_quiet": (bool, 0, 0),
    "unopened_after_days": (int, 1, 90),
    "reminders": (bool, 0, 0),
    "reminder_after_days": (int, 1, 60),
    "reminder_max": (int, 0, 10),
    "alert_emails": (bool, 0, 0),
}


def update_report_settings(
    accounts: AccountStore, account_id: str, changes: dict[str, Any]
) -> Account:
    """Change an account's report settings; every bad value is reported at once."""
    account = accounts.get_account(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    errors: list[dict[str, str]] = []
    for name, value in changes.items():
        rule = REPORT_SETTINGS.get(name)
        if rule is None:
            errors.append({"field": name, "message": "is not a report setting"})
            continue
        kind, lowest, highest = rule
        if kind is bool and not isinstance(value, bool):
            errors.append({"field": name, "message": "must be true or false"})
        elif kind is int and (
            isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest
        ):
            errors.append(
                {"field": name, "message": f"must be a number from {lowest} to {highest}"}
            )
        else:
            setattr(account, name, value)
    if errors:
        raise Invalid("Bad report settings.", errors)
    accounts.put_account(account)
    return account


# -- the hourly job: digests and reminders ----------------------------------------------


def _zone(account: Account) -> str:
    try:
        ZoneInfo(account.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return account.time_zone


def run_hourly(jobs: Jobs, only: str | None = None) -> dict[str, int]:
    """Each account whose local time is within the digest hours gets its digest (once
    a day) and its due reminders. One account failing never stops the others."""
    outcome: Counter[str] = Counter()
    for account_id in jobs.store.account_ids():
        if only is not None and account_id != only:
            continue
        account = jobs.ctx.accounts.get_account(account_id)
        if account is None:
            continue
        zone = _zone(account)
        today = digest_day(jobs.now, zone)
        if today is None:
            outcome["not_due"] += 1
            continue
        try:
            outcome[f"digest_{send_digest(jobs, account, previous_day(today, zone))}"] += 1
            outcome["reminders"] += run_reminders(jobs, account)
        except Exception:
            logger.exception("report failed", extra={"account_id": account.id})
            jobs.ctx.metrics.count("ReportsFailed")
            outcome["failed"] += 1
    return dict(outcome)


def _pages(jobs: Jobs, account: Account, since: str) -> Iterator[Invoice]:
    cursor = None
    while True:
        page = jobs.store.activity_page(account, since, PAGE, cursor)
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor


def send_digest(jobs: Jobs, account: Account, period: Period, force: bool = False) -> str:
    """'sent', 'quiet' (nothing happened: not sent unless the account asks),
    'already_sent' (the marker of that day exists) or 'no_address'. ``force`` (an
    operator running it now) sends even a quiet digest and claims no marker."""
    if not account.report_address:
        return "no_address"
    key = f"DIGEST#{account.id}#{period.day.isoformat() if period.day else 'adhoc'}"
    at = iso(jobs.now)
    if not force and not jobs.store.claim(key, at, jobs.expires()):
        return "already_sent"
    try:
        digest = build_digest(
            period,
            account.unopened_after_days,
            _pages(jobs, account, period.start),
            jobs.store.in_status(account, "delivered", None, None, UNOPENED_READ_LIMIT),
            jobs.now,
        )
        if digest.quiet and not (account.digest_when_quiet or force):
            if not force:
                jobs.store.settle(key, "quiet", at, jobs.expires())
            return "quiet"
        rendered = render_digest(digest, account.name, account.report_address, account.locale)
        message_id = jobs.ctx.mailer.send(
            OutgoingEmail(
                from_address=account.from_address,
                to_address=account.report_address,
                raw_mime=compose(
                    rendered, account.name, account.from_address, account.report_address
                ),
                tags={TAG_ACCOUNT: account.id, TAG_KIND: "digest"},
            )
        )
    except Exception as exc:
        if not force:  # a failed marker may be claimed again by the next run
            jobs.store.settle(key, "failed", at, jobs.expires(), f"{type(exc).__name__}: {exc}")
        raise
    if not force:
        jobs.store.settle(key, "sent", at, jobs.expires(), message_id)
    jobs.ctx.metrics.count("DigestsSent")
    logger.info("digest sent", extra={"account_id": account.id, "message_id": message_id})
    return "sent"


def run_reminders(jobs: Jobs, account: Account) -> int:
    """Remind the invoices due a reminder (``reports.reminder_due``); returns how many.
    Candidates come from the by_status index: status ``delivered`` (nobody opened) and
    no activity for ``reminder_after_days`` (nor for more than a week beyond)."""
    if not account.reminders:
        return 0
    newest = jobs.now - timedelta(days=account.reminder_after_days)
    candidates = jobs.store.in_status(
        account, "delivered", iso(newest - REMINDER_LOOKBACK), iso(newest), REMINDER_CANDIDATES
    )
    sent = 0
    for listed in candidates:
        invoice = jobs.ctx.invoices.get(listed.id)
        if invoice is None or not reminder_due(
            invoice, account.reminder_after_days, account.reminder_max, jobs.now
        ):
            continue
        if send_reminder(jobs, account, invoice, "scheduled") is not None:
            sent += 1
    return sent


def send_reminder(jobs: Jobs, account: Account, invoice: Invoice, trigger: str) -> Invoice | None:
    """Send reminder ``reminders_sent + 1`` to the recipients who have not opened: the
    invoice email again (subject "Reminder: ..."), with the same tracking token, so
    its opens and views count for the same recipient. None when there is nobody to
    remind or another run already claimed this reminder."""
    from chalicelib.compose import compose_invoice_message  # lazy: templating

    ctx = jobs.ctx
    recipients = remindable(invoice)
    if not recipients:
        return None
    number = invoice.reminders_sent + 1
    marker = f"REMINDER#{invoice.id}#{number}"
    now = iso(ctx.clock())
    if not jobs.store.claim(marker, now, jobs.expires()):
        return None
    pdf = ctx.invoices.get_pdf(invoice) if invoice.has_pdf else None
    reminder = replace(invoice, subject=reminder_subject(invoice, account.name))
    facts: list[Fact] = []
    refs: list[MessageRef] = []
    for recipient in recipients:
        token = ctx.signer.token_for(invoice.id, recipient.id)
        pixel_url = f"{ctx.settings.base_url}/t/{token}.gif" if invoice.tracking else None
        view_url = f"{ctx.settings.base_url}/v/{token}"
        raw = compose_invoice_message(reminder, recipient, account, pixel_url, view_url, pdf)
        details: dict[str, Any] = {"n": number, "trigger": trigger}
        try:
            message_id = ctx.mailer.send(
                OutgoingEmail(
                    from_address=account.from_address,
                    to_address=recipient.email,
                    raw_mime=raw,
                    tags={
                        TAG_ACCOUNT: account.id,
                        TAG_INVOICE: invoice.id,
                        TAG_RECIPIENT: recipient.id,
                    },
                )
            )
        except SendRejected as exc:
            details["error"] = str(exc)
        else:
            details["message_id"] = message_id
            refs.append(MessageRef(message_id, account.id, invoice.id, recipient.id))
        facts.append(
            Fact(f"reminder-{recipient.id}-{number}", "reminder", now, recipient.id, "api", details)
        )
    if refs:  # classic SES notifications of the reminder map back by message id
        ctx.invoices.put_message_refs(refs, ctx.expires_at(ctx.clock()))
    updated = service.record_reminder(ctx, invoice.id, facts, now)
    jobs.store.settle(
        marker, "sent", now, jobs.expires(), ",".join(r.message_id for r in refs) or "refused"
    )
    ctx.metrics.count("RemindersSent", len(refs))
    return updated


def remind_now(jobs: Jobs, account: Account, invoice_id: str) -> Invoice:
    """``POST /invoices/{id}/remind``: 409 when nobody is left to remind."""
    invoice = service.get_invoice(jobs.ctx, account, invoice_id)
    if not remindable(invoice):
        raise Conflict(
            "Nothing to remind: every recipient has opened, has a problem, or was never sent.",
            {"invoice_id": invoice.id, "statuses": {r.email: r.status for r in invoice.recipients}},
        )
    updated = send_reminder(jobs, account, invoice, "manual")
    if updated is None:
        raise Conflict(
            "Another reminder of this invoice is being sent; retry in a moment.",
            {"invoice_id": invoice.id},
        )
    return updated


def reminder_response(invoice: Invoice) -> dict[str, Any]:
    """What ``POST /invoices/{id}/remind`` answers: who the last reminder went to."""
    emails = {r.id: r.email for r in invoice.recipients}
    last = [
        e
        for e in invoice.events
        if e.type == "reminder" and e.details.get("n") == invoice.reminders_sent
    ]
    return {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "reminders_sent": invoice.reminders_sent,
        "reminded": [
            {
                "recipient_id": e.recipient_id,
                "email": emails.get(e.recipient_id or ""),
                "message_id": e.details.get("message_id"),
                "error": e.details.get("error"),
            }
            for e in last
        ],
    }


def run_now(jobs: Jobs, account_id: str, reminders: bool = True) -> dict[str, Any]:
    """An operator's "now" for one account (``tools.admin run-schedule --now``): its
    digest over the last 24 hours (even a quiet one, no marker), its due reminders, and
    every alert and webhook delivery due (without the settling delay: alerts recorded
    in the very last moment may wait for the next run)."""
    account = jobs.ctx.accounts.get_account(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    digest = send_digest(jobs, account, last_hours(jobs.now, _zone(account)), force=True)
    reminded = run_reminders(jobs, account) if reminders else 0
    alerts = run_alerts(jobs, settle=timedelta(0))
    return {"digest": digest, "reminders": reminded, "alerts": alerts}


# -- the alerts job: fan-out and webhook deliveries ---------------------------------------


@dataclass
class _Run:
    jobs: Jobs
    failing: set[str] = field(default_factory=set)  # webhooks that failed in this run
    outcome: Counter[str] = field(default_factory=Counter)


def run_alerts(jobs: Jobs, settle: timedelta = SETTLE) -> dict[str, int]:
    """Take the due tasks, oldest first, behind the queue's lease: alerts are fanned out
    (an email to the report address, a delivery per subscribed webhook) and webhook
    deliveries attempted. Stops after ``max_tasks`` or ``budget_seconds``; the next
    run goes on from there."""
    store, now = jobs.store, jobs.now
    lease = store.lease(now, LEASE_SECONDS)
    if lease is None:
        return {"busy": 1}
    run = _Run(jobs)
    until = iso(now - settle)
    position = lease.position or iso(now - FIRST_RUN_LOOKBACK)
    start = position
    started = time.monotonic()
    done = 0
    try:
        for task in store.due(start, until):
            if done >= jobs.max_tasks or time.monotonic() - started > jobs.budget_seconds:
                run.outcome["left_for_next_run"] += 1
                break
            _run_task(run, task)
            position = task.position
            done += 1
        else:
            position = max(position, f"{until}#~")
    finally:
        store.release(lease, position)
    return dict(run.outcome)


def _run_task(run: _Run, task: Task) -> None:
    try:
        if task.kind == "alert":
            run.outcome[_fan_out(run, Alert.from_dict(task.data))] += 1
        elif task.kind == "delivery":
            run.outcome[_delivery_due(run, task.data)] += 1
        else:
            logger.warning("unknown task", extra={"task": task.kind})
            run.outcome["unknown_task"] += 1
    except Exception:
        errors = int(task.data.get("_errors", 0)) + 1
        logger.exception("task failed", extra={"task": task.kind, "errors": errors})
        run.outcome["task_errors"] += 1
        if errors <= TASK_RETRIES:
            due = iso(run.jobs.now + RETRY_DELAYS[0])
            run.jobs.store.schedule(
                [Task(due, f"{task.id}.r{errors}", task.kind, {**task.data, "_errors": errors})]
            )


def _fan_out(run: _Run, alert: Alert) -> str:
    jobs = run.jobs
    ctx, store = jobs.ctx, jobs.store
    account = ctx.accounts.get_account(alert.account_id)
    invoice = ctx.invoices.get(alert.invoice_id)
    recipient = invoice.recipient(alert.recipient_id) if invoice else None
    if account is None or invoice is None or recipient is None:
        return "alert_orphaned"
    if account.report_address and account.alert_emails:
        run.outcome[_alert_email(jobs, account, invoice, recipient, alert)] += 1
    for webhook in store.list_webhooks(account.id):
        if webhook.status == "deleted" or not webhook.wants(alert.type):
            continue
        delivery = Delivery(
            webhook_id=webhook.id,
            account_id=account.id,
            event_id=alert.id,
            event_type=alert.type,
            event_at=alert.at,
            created_at=iso(jobs.now),
            body=event_body(alert, invoice),
            status="pending" if webhook.status == "active" else "held",
        )
        if not store.add_delivery(delivery):
            continue  # this alert was fanned out before (a run that stopped midway)
        if delivery.status == "held":
            run.outcome["delivery_held"] += 1
            continue
        run.outcome[_attempt(run, webhook, delivery)] += 1
    return "alert"


def _alert_email(
    jobs: Jobs, account: Account, invoice: Invoice, recipient: Recipient, alert: Alert
) -> str:
    assert account.report_address is not None
    key, at = f"ALERT#{alert.id}", iso(jobs.now)
    if not jobs.store.claim(key, at, jobs.expires()):
        return "alert_email_already_sent"
    rendered = render_alert(
        alert.type,
        invoice,
        recipient,
        alert.at,
        _zone(account),
        account.locale,
        account.report_address,
    )
    try:
        message_id = jobs.ctx.mailer.send(
            OutgoingEmail(
                from_address=account.from_address,
                to_address=account.report_address,
                raw_mime=compose(
                    rendered, account.name, account.from_address, account.report_address
                ),
                tags={TAG_ACCOUNT: account.id, TAG_KIND: "alert"},
            )
        )
    except SendRejected as exc:
        jobs.store.settle(key, "refused", at, jobs.expires(), str(exc))
        return "alert_email_refused"
    jobs.store.settle(key, "sent", at, jobs.expires(), message_id)
    return "alert_email_sent"


def _delivery_due(run: _Run, data: dict[str, Any]) -> str:
    store = run.jobs.store
    delivery = store.get_delivery(str(data["webhook_id"]), str(data["key"]))
    if delivery is None:
        return "delivery_missing"
    if delivery.status != "pending" or delivery.attempts + 1 != int(data["attempt"]):
        return "delivery_stale"  # done, or another task took this attempt already
    webhook = store.get_webhook(str(data["account_id"]), str(data["webhook_id"]))
    if webhook is None or webhook.status == "deleted":
        store.save_delivery(replace(delivery, status="cancelled", next_attempt_at=None))
        return "delivery_cancelled"
    if webhook.status == "disabled":
        store.save_delivery(replace(delivery, status="held", next_attempt_at=None))
        return "delivery_held"
    return _attempt(run, webhook, delivery)


def _attempt(run: _Run, webhook: Webhook, delivery: Delivery) -> str:
    jobs = run.jobs
    store, now = jobs.store, jobs.now
    if webhook.id in run.failing:
        # It already failed in this run: the others wait for the next attempt rather
        # than each wait for a timeout now. No attempt is counted.
        later = replace(delivery, next_attempt_at=iso(now + RETRY_DELAYS[0]))
        store.save_delivery(later)
        store.schedule([delivery_task(later)])
        return "delivery_deferred"
    body = delivery.body.encode()
    result = jobs.poster.post(webhook.url, body, delivery_headers(webhook, delivery, now))
    after = after_attempt(delivery, result, now)
    store.save_delivery(after)
    if after.status == "pending":
        store.schedule([delivery_task(after)])
    _note_attempt(jobs, webhook, result)
    if not result.ok:
        run.failing.add(webhook.id)
        jobs.ctx.metrics.count("WebhookAttemptsFailed")
    return {"delivered": "delivered", "failed": "delivery_failed"}.get(after.status, "retrying")


def _note_attempt(jobs: Jobs, webhook: Webhook, result: AttemptResult) -> None:
    current: Webhook | None = webhook
    for _ in range(5):
        if current is None:
            return
        changed = webhook_after(current, result, jobs.now)
        if changed is None:
            return
        try:
            jobs.store.put_webhook(changed)
        except ConcurrentUpdate:
            current = jobs.store.get_webhook(webhook.account_id, webhook.id)
            continue
        webhook.version = changed.version
        if changed.status == "disabled" and current.status != "disabled":
            logger.warning("webhook disabled", extra={"webhook_id": webhook.id})
            jobs.ctx.metrics.count("WebhooksDisabled")
        return


# -- webhooks: the routes' use cases --------------------------------------------------------


def _owned(jobs: Jobs, account: Account, webhook_id: str) -> Webhook:
    webhook = (
        jobs.store.get_webhook(account.id, webhook_id) if webhook_id.startswith("whk_") else None
    )
    if webhook is None or webhook.status == "deleted":
        raise NotFound(f"No webhook {webhook_id}.")
    return webhook


def create_webhook(jobs: Jobs, account: Account, body: Any) -> Webhook:
    url, events = parse_webhook_request(body, jobs.ctx.settings.stage)
    live = [w for w in jobs.store.list_webhooks(account.id) if w.status != "deleted"]
    if len(live) >= MAX_WEBHOOKS:
        raise Conflict(
            f"An account has at most {MAX_WEBHOOKS} webhooks; delete one first.",
            {"limit": MAX_WEBHOOKS},
        )
    webhook = Webhook(
        id=new_webhook_id(),
        account_id=account.id,
        url=url,
        events=events,
        secret=new_secret(),
        created_at=iso(jobs.now),
    )
    jobs.store.put_webhook(webhook)
    return webhook


def list_webhooks(jobs: Jobs, account: Account) -> list[Webhook]:
    found = [w for w in jobs.store.list_webhooks(account.id) if w.status != "deleted"]
    return sorted(found, key=lambda w: (w.created_at, w.id))


def get_webhook(jobs: Jobs, account: Account, webhook_id: str) -> Webhook:
    return _owned(jobs, account, webhook_id)


def _change_webhook(jobs: Jobs, account: Account, webhook_id: str, **changes: Any) -> Webhook:
    for _ in range(5):
        webhook = _owned(jobs, account, webhook_id)
        try:
            changed = replace(webhook, **changes)
            jobs.store.put_webhook(changed)
        except ConcurrentUpdate:
            continue
        return changed
    raise Conflict("The webhook is changing; retry.", {"webhook_id": webhook_id})


def delete_webhook(jobs: Jobs, account: Account, webhook_id: str) -> None:
    """Stop delivering (deliveries still due are cancelled when they come up)."""
    _change_webhook(jobs, account, webhook_id, status="deleted")


def enable_webhook(jobs: Jobs, account: Account, webhook_id: str) -> tuple[Webhook, int]:
    """Enable a disabled webhook and send again every delivery kept while it was down
    (held) or given up on (failed); returns the webhook and how many were queued."""
    webhook = _change_webhook(
        jobs,
        account,
        webhook_id,
        status="active",
        disabled_at=None,
        disabled_reason=None,
        failing_since=None,
        last_error=None,
    )
    queued, cursor = 0, None
    now = iso(jobs.now)
    while True:
        items, cursor = jobs.store.deliveries(webhook.id, PAGE, cursor)
        for delivery in items:
            if delivery.status not in ("held", "failed"):
                continue
            again = replace(delivery, status="pending", attempts=0, next_attempt_at=now)
            try:
                jobs.store.save_delivery(again)
            except ConcurrentUpdate:
                continue
            jobs.store.schedule([delivery_task(again)])
            queued += 1
        if cursor is None:
            return webhook, queued


def _decode_cursor(text: str | None, field_name: str = "cursor") -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error):
        value = None
    if not isinstance(value, dict):
        raise Invalid("Bad query.", [{"field": field_name, "message": "is not a cursor we gave"}])
    return value


def _encode_cursor(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _limit(text: str | None, default: int, top: int) -> int:
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= top):
        raise Invalid("Bad query.", [{"field": "limit", "message": f"must be 1 to {top}"}])
    return int(text)


def list_deliveries(
    jobs: Jobs, account: Account, webhook_id: str, limit: str | None, cursor: str | None
) -> tuple[list[Delivery], str | None]:
    webhook = _owned(jobs, account, webhook_id)
    size = _limit(limit, 25, 100)
    start = _decode_cursor(cursor)
    try:
        items, after = jobs.store.deliveries(webhook.id, size, start)
    except InvalidCursor as exc:
        raise Invalid(
            "Bad query.", [{"field": "cursor", "message": "belongs to another query"}]
        ) from exc
    return items, _encode_cursor(after)


# -- evidence and export -------------------------------------------------------------------


def invoice_evidence(jobs: Jobs, account: Account, invoice_id: str) -> dict[str, Any]:
    from chalicelib.evidence import evidence

    invoice, timeline = service.get_invoice_with_timeline(jobs.ctx, account, invoice_id)
    return evidence(invoice, timeline, iso(jobs.now))


EXPORT_DEFAULT_DAYS = 30
EXPORT_PAGE = 50
EXPORT_MAX_PAGE = 200


def _moment(text: str, field_name: str, errors: list[dict[str, str]]) -> str | None:
    try:
        if len(text) == 10:  # a date: its midnight, UTC
            return iso(parse_iso(text + "T00:00:00Z"))
        return iso(parse_iso(text))
    except ValueError:
        errors.append({"field": field_name, "message": "must be a date or an ISO 8601 time"})
        return None


@dataclass(frozen=True)
class ExportPage:
    start: str
    end: str
    rows: list[list[str]]
    cursor: str | None
    invoices: int


def export_events(
    jobs: Jobs,
    account: Account,
    start_text: str | None,
    end_text: str | None,
    cursor: str | None,
    limit: str | None,
) -> ExportPage:
    """One page of the account's events in [from, to): the invoices active since
    ``from`` (by_account index, newest activity first), ``limit`` invoices a page, each
    with its events in the range, oldest first. ``cursor`` continues the same query."""
    from chalicelib.evidence import csv_rows

    errors: list[dict[str, str]] = []
    # Without "to": everything recorded until now, this very millisecond included.
    end = _moment(end_text, "to", errors) if end_text else iso(jobs.now + timedelta(seconds=1))
    start = (
        _moment(start_text, "from", errors)
        if start_text
        else iso(jobs.now - timedelta(days=EXPORT_DEFAULT_DAYS))
    )
    size = EXPORT_PAGE
    try:
        size = _limit(limit, EXPORT_PAGE, EXPORT_MAX_PAGE)
    except Invalid as exc:
        errors.extend(exc.details)
    if start and end and start >= end:
        errors.append({"field": "from", "message": "must be before 'to'"})
    position: dict[str, Any] | None = None
    try:
        position = _decode_cursor(cursor)
    except Invalid as exc:
        errors.extend(exc.details)
    if errors or start is None or end is None:
        raise Invalid("Bad query.", errors)
    try:
        page = jobs.store.activity_page(account, start, size, position)
    except InvalidCursor as exc:
        raise Invalid(
            "Bad query.", [{"field": "cursor", "message": "belongs to another query"}]
        ) from exc
    rows: list[list[str]] = []
    for listed in page.items:
        if listed.created_at >= end:
            continue  # created after the range: none of its events are in it
        invoice, timeline = service.get_invoice_with_timeline(jobs.ctx, account, listed.id)
        rows.extend(csv_rows(invoice, timeline, start, end))
    return ExportPage(start, end, rows, _encode_cursor(page.cursor), len(page.items))


def parse_event_time(text: str) -> datetime:
    """The ``time`` of a scheduled (EventBridge) event: when the job is meant to run."""
    return parse_iso(text)


__all__ = [
    "ExportPage",
    "Jobs",
    "create_webhook",
    "delete_webhook",
    "enable_webhook",
    "export_events",
    "get_webhook",
    "invoice_evidence",
    "list_deliveries",
    "list_webhooks",
    "production_jobs",
    "remind_now",
    "run_alerts",
    "run_hourly",
    "run_now",
    "send_digest",
    "send_reminder",
]
