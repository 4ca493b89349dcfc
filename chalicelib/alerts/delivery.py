"""The alerts job (every five minutes): the due tasks of the queue, oldest first,
behind the queue's lease. An alert is fanned out (an email to the report address, a
delivery per webhook that wants it); a delivery is attempted, then retried with
backoff (chalicelib/core/webhooks.py) until it succeeds or its retries are spent.
Deliveries are items of their own, so a run that stops midway loses nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from chalicelib.alerts.alert_email import render_alert
from chalicelib.context import Jobs
from chalicelib.core.alerts import INVOICE_EVENTS, Alert, event_body
from chalicelib.core.model import Account, Invoice, Recipient, iso
from chalicelib.core.webhooks import (
    RETRY_DELAYS,
    AttemptResult,
    Delivery,
    Task,
    Webhook,
    after_attempt,
    delivery_headers,
    delivery_task,
    webhook_after,
)
from chalicelib.errors import ConcurrentUpdate, SendRejected
from chalicelib.observability import logger
from chalicelib.render.mime import report_email

# Tasks are read once they are this old, so that a write still in flight when a run
# reads the queue (its time taken a moment before it lands) is never skipped.
SETTLE = timedelta(minutes=2)


LEASE_SECONDS = 240


FIRST_RUN_LOOKBACK = timedelta(days=1)


TASK_RETRIES = 5  # a task that keeps raising is retried this often, then dropped (logged)


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
    invoice_event = alert.type in INVOICE_EVENTS  # paid, voided: no recipient, no email
    if account is None or invoice is None or (recipient is None and not invoice_event):
        return "alert_orphaned"
    if recipient is not None and account.report_address and account.alert_emails:
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
        account.zone,
        account.locale,
        account.report_address,
    )
    try:
        message_id = jobs.ctx.mailer.send(report_email(account, rendered, "alert"))
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
