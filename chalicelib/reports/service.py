"""The hourly job: each account's daily digest and its due reminders, a reminder sent
now (``POST /invoices/{id}/remind``), and an operator's "run it now".

Every piece of work that must happen at most once claims a marker first (a digest a
day, a reminder). See docs/DESIGN.md, "Reports, reminders and alerts".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.alerts.delivery import run_alerts
from chalicelib.context import Jobs
from chalicelib.core.model import Account, Invoice, Recipient, iso, parse_iso
from chalicelib.core.sends import QueuedSend
from chalicelib.errors import Conflict, NotFound, Unavailable
from chalicelib.observability import logger
from chalicelib.render.mime import report_email
from chalicelib.reports.digest import Period, build_digest, digest_day, last_hours, previous_day
from chalicelib.reports.digest_email import render_digest
from chalicelib.sending.queries import get_invoice
from chalicelib.sending.reminders import remindable, reminder_due

REMINDER_LOOKBACK = timedelta(days=7)
# A reminder's marker claimed and never settled (its run stopped before queueing it) is
# claimed again after this long (a Lambda runs at most 15 minutes). Queueing it twice
# mails nobody twice: each recipient's reminder is claimed on its own when sent.
REMINDER_LEASE = timedelta(minutes=15)


UNOPENED_READ_LIMIT = 2000


REMINDER_CANDIDATES = 500


PAGE = 100


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
        zone = account.zone
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
    """The summaries of the invoices whose summary changed since ``since``: every
    first send, delivery, open, view or problem of the period is among them."""
    cursor = None
    while True:
        page = jobs.store.changed_page(account, since, PAGE, cursor)
        yield from _summaries(jobs, page.items)
        if page.cursor is None:
            return
        cursor = page.cursor


def _summaries(jobs: Jobs, listed: Iterable[Invoice]) -> Iterator[Invoice]:
    """List entries carry no recipients; the digest needs theirs."""
    for entry in listed:
        summary = jobs.ctx.invoices.get_summary(entry.id)
        if summary is not None:
            yield summary


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
            _summaries(
                jobs, jobs.store.in_status(account, "delivered", None, None, UNOPENED_READ_LIMIT)
            ),
            jobs.now,
        )
        if digest.quiet and not (account.digest_when_quiet or force):
            if not force:
                jobs.store.settle(key, "quiet", at, jobs.expires())
            return "quiet"
        rendered = render_digest(digest, account.name, account.report_address, account.locale)
        message_id = jobs.ctx.mailer.send(report_email(account, rendered, "digest"))
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


@dataclass(frozen=True)
class Reminded:
    """Reminder ``number`` of ``invoice``, queued to ``recipients`` (the sender mails
    them; each recipient's ``reminder`` fact records its outcome)."""

    invoice: Invoice
    number: int
    recipients: list[Recipient]


def send_reminder(jobs: Jobs, account: Account, invoice: Invoice, trigger: str) -> Reminded | None:
    """Queue reminder ``reminders_sent + 1`` to the recipients who have not opened (the
    sender mails them the invoice email again, as a reminder, with the same tracking
    token, so its opens and views count for the same recipient). None when there is
    nobody to remind or another run already claimed this reminder. ``Unavailable``
    when the queue did not take it (the next run, or a retry, queues it again)."""
    ctx = jobs.ctx
    recipients = remindable(invoice)
    if not recipients:
        return None
    number = invoice.reminders_sent + 1
    marker = f"REMINDER#{invoice.id}#{number}"
    now = ctx.clock()
    stale = iso(now - REMINDER_LEASE)
    if not jobs.store.claim(marker, iso(now), jobs.expires(), stale_before=stale):
        return None
    sends = [QueuedSend(invoice.id, r.id, number, trigger) for r in recipients]
    try:
        ctx.sends.enqueue(sends)
    except Exception as exc:  # some or none queued: whoever claims it next queues all
        logger.exception("the send queue refused a reminder", extra={"invoice_id": invoice.id})
        jobs.store.settle(marker, "failed", iso(now), jobs.expires(), f"not queued: {exc}")
        raise Unavailable(
            "The reminder could not be queued; retry shortly.", {"invoice_id": invoice.id}
        ) from exc
    jobs.store.settle(
        marker, "queued", iso(now), jobs.expires(), ",".join(r.id for r in recipients)
    )
    ctx.metrics.count("RemindersQueued", len(sends))
    return Reminded(invoice, number, recipients)


def remind_now(jobs: Jobs, account: Account, invoice_id: str) -> Reminded:
    """``POST /invoices/{id}/remind``: 409 when nobody is left to remind."""
    invoice = get_invoice(jobs.ctx, account, invoice_id)
    if invoice.payment_status != "unpaid":
        raise Conflict(
            f"This invoice is {invoice.payment_status}: reminders never go to it.",
            {"invoice_id": invoice.id, "payment_status": invoice.payment_status},
        )
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


def run_now(jobs: Jobs, account_id: str, reminders: bool = True) -> dict[str, Any]:
    """An operator's "now" for one account (``tools.admin run-schedule --now``): its
    digest over the last 24 hours (even a quiet one, no marker), its due reminders, and
    every alert and webhook delivery due (without the settling delay: alerts recorded
    in the very last moment may wait for the next run)."""
    account = jobs.ctx.accounts.get_account(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    digest = send_digest(jobs, account, last_hours(jobs.now, account.zone), force=True)
    reminded = run_reminders(jobs, account) if reminders else 0
    alerts = run_alerts(jobs, settle=timedelta(0))
    return {"digest": digest, "reminders": reminded, "alerts": alerts}


def parse_event_time(text: str) -> datetime:
    """The ``time`` of a scheduled (EventBridge) event: when the job is meant to run."""
    return parse_iso(text)
