"""Recording facts about an invoice: the write paths every use case shares.

Each fact is its own item, kept with a conditional put on its key (the condition is the
deduplication). What the fact changes then goes to two small places: the recipient's
counters (ADD, for fetches) and the summary (only when something it shows changes; an
optimistic write, re-read and retried on a lost race). Applying a fact to the summary is
idempotent, so a retry after a crash between the two writes completes the first one, and
a counted change leaves its digest in a slot of the counters item, so a retry does not
count it twice. See docs/DESIGN.md, "Exactly once".

When a recipient's status crosses to one the account is told about, the alert is kept
for the scheduled job (chalicelib/alerts/delivery.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from chalicelib.context import Context
from chalicelib.core.classification import BURST_WINDOW, PERSON_VERDICTS, SCANNER_NETWORK_WINDOW
from chalicelib.core.model import (
    FETCH_TYPES,
    Account,
    Invoice,
    Recipient,
    TimelineEvent,
    iso,
    parse_iso,
)
from chalicelib.core.status import (
    WINDOW_READ,
    Counts,
    Fact,
    apply_to_summary,
    count_change,
    judge,
    refresh_statuses,
    verdict_changed,
)
from chalicelib.errors import ConcurrentUpdate, Unavailable
from chalicelib.observability import logger

# Lost races on the summary: only status changes write it, so races are rare (two SES
# events of one invoice at once); each retry waits a little, with jitter.
MAX_WRITE_ATTEMPTS = 12
# A burst window holds at most this many facts read around a fetch (a flood of one
# token has thousands within seconds; the verdict needs to know only that it is one).
BURST_READ = 50


@dataclass(frozen=True)
class Recorded:
    invoice: Invoice
    changed: bool  # False: nothing new (a duplicate), nothing written but the attempt


def record(
    ctx: Context,
    invoice_id: str,
    facts: Sequence[Fact],
    preloaded: Invoice | None = None,
    also: Callable[[Invoice], bool] | None = None,
    changed_at: str | None = None,
) -> Recorded | None:
    """Keep ``facts`` (SES events, send outcomes, reminders) and apply them to the
    summary; ``also`` changes the summary further (idempotently) in the same write.
    ``changed_at``: when the summary says it changed (default: the latest fact's time).
    None when the invoice does not exist."""
    invoice = preloaded or ctx.invoices.get_summary(invoice_id)
    if invoice is None:
        return None
    account = _current_account(ctx, invoice)
    expires = ctx.invoice_expiry(invoice, account)
    new = [
        f
        for f in facts
        if invoice.recipient(f.recipient_id) is not None
        and ctx.invoices.add_fact(invoice_id, f.event(), expires)
    ]

    def change(current: Invoice) -> bool:
        changed = [apply_to_summary(current, f) for f in facts]
        return (any(changed) | bool(also and also(current))) and _follow(current, account)

    before = {r.id: (r.sent_at, r.delivered_at) for r in invoice.recipients}
    latest = changed_at or max((f.at for f in facts), default=None)
    updated, changed = update_summary(ctx, invoice_id, invoice, change, latest)
    for recipient in updated.recipients:
        if before.get(recipient.id) != (recipient.sent_at, recipient.delivered_at):
            _rejudge_after_delivery(ctx, updated, recipient)
    return Recorded(updated, changed or bool(new))


def record_fetch(
    ctx: Context, invoice_id: str, fact: Fact, step: Callable[[str], None] | None = None
) -> Recorded | None:
    """Keep one fetch (pixel open, click, hosted-page fetch or display, SES open or
    click) with its verdict, count it, and show it in the summary when it is a first.
    Costs one fact put and one counters update; more only when it changes what the
    summary shows or the verdicts of fetches around it (a burst). ``step`` is called
    before each storage call with its name (a deadline may stop the write there:
    chalicelib/tracking/deadline.py)."""
    step = step or _no_step
    step("read")
    invoice = ctx.invoices.get_summary(invoice_id, fact.recipient_id)
    recipient = invoice.recipient(fact.recipient_id) if invoice else None
    if invoice is None or recipient is None:
        return None
    # The account's current switch, not only the copy made when the invoice was sent:
    # turning tracking off stops recording the opens of invoices already out.
    account = _current_account(ctx, invoice)
    tracking = invoice.tracking and (account is None or account.tracking)
    if not tracking and fact.source == "pixel":
        return Recorded(invoice, changed=False)
    event = fact.event()
    if fact.source == "ses" and tracking:
        # Sobre's pixel and view link already recorded this display: SES's own report
        # of it (when an operator turned SES tracking on) is kept but not counted.
        event.details["counted"] = False
    step("window")
    around = _burst_window(ctx, invoice_id, recipient.id, event.at)
    event = _judged(event, around, recipient)
    expires = ctx.invoice_expiry(invoice, account)
    step("fact")
    fresh = ctx.invoices.add_fact(invoice_id, event, expires)
    counts = Counts.of(event)
    if not fresh and (kept := ctx.invoices.kept_fact(invoice_id, event)) is not None:
        # A retry or the fallback queue's copy: an earlier attempt kept the fact, judged
        # on its own window and maybe re-judged since (each re-judge counted only the
        # difference). Count it as first kept; show its verdict as it is now.
        event, counts = kept.event, kept.counted
    change = count_change(event.key, event, counts)
    if (
        recipient.first_person_at
        and change.first_person_at
        and (recipient.first_person_at <= change.first_person_at)
    ):
        # Not earlier than the known first: no condition to fail, one write.
        change = replace(change, first_person_at=None)
    step("count")
    counted = ctx.invoices.count(invoice_id, change, expires)
    # Read the window again after the put: a fetch of the same burst that landed
    # meanwhile is in it (the later of two concurrent writers always sees both), and
    # the fetches before this one may now be a burst: re-judge them (writes only what
    # changed; nothing when the window holds this fetch alone).
    step("window")
    later = _burst_window(ctx, invoice_id, recipient.id, event.at)
    if len(later) > 1:
        rejudged = _rejudge(ctx, invoice, recipient, later, _person_before(recipient, later))
        event = next((e for e in rejudged if e.key == event.key), event)
    step("summary")
    updated, changed = update_summary(
        ctx,
        invoice_id,
        invoice,
        lambda current: apply_to_summary(current, event) and _follow(current, account),
        event.at,
    )
    return Recorded(updated, fresh or counted or changed)


def _no_step(_name: str) -> None:
    return None


def _current_account(ctx: Context, invoice: Invoice) -> Account | None:
    """The invoice's account as it is now (cached per container): its tracking and
    retention apply to invoices already sent. None when it is gone: the invoice's own
    copies then stand."""
    return ctx.accounts.get_account(invoice.account_id)


def _follow(current: Invoice, account: Account | None) -> bool:
    """A summary about to be written takes the account's current retention, so its
    TTL (the store's, from ``retention_days``) matches the facts'. Always True."""
    if account is not None:
        current.retention_days = account.retention_days
    return True


def _burst_window(ctx: Context, invoice_id: str, recipient_id: str, at: str) -> list[TimelineEvent]:
    moment = parse_iso(at)
    start, end = iso(moment - BURST_WINDOW), iso(moment + BURST_WINDOW)
    return [
        e
        for e in ctx.invoices.facts_between(invoice_id, start, end, BURST_READ)
        if e.recipient_id == recipient_id and e.type in FETCH_TYPES
    ]


def _person_before(recipient: Recipient, window: Sequence[TimelineEvent]) -> str | None:
    """The first person's fetch before ``window``, from the counters (inside the
    window, ``judge`` finds it itself)."""
    start = min((e.at for e in window), default=None)
    first = recipient.first_person_at
    return first if first and start and first < start else None


def _judged(
    event: TimelineEvent, around: Sequence[TimelineEvent], recipient: Recipient
) -> TimelineEvent:
    window = [e for e in around if e.key != event.key] + [event]
    verdicts = {e.key: e for e in judge(window, recipient, _person_before(recipient, window))}
    return verdicts.get(event.key, event)


def update_summary(
    ctx: Context,
    invoice_id: str,
    invoice: Invoice,
    change: Callable[[Invoice], bool],
    at: str | None = None,
) -> tuple[Invoice, bool]:
    """Apply ``change`` to the summary and write it if it changed (re-read and retried
    on a lost race), then keep an alert for every recipient whose status crossed to
    opened (by a person), viewed, bounced or complained."""
    current: Invoice | None = invoice
    for attempt in range(MAX_WRITE_ATTEMPTS):
        if current is None:
            current = ctx.invoices.get_summary(invoice_id)
            if current is None:
                return invoice, False
        before: dict[str, str] = {r.id: r.status for r in current.recipients}
        if not change(current):
            return current, False
        # When it changed: the time of the fact that changed it (never in the future).
        now = iso(ctx.clock())
        current.updated_at = max(min(at or now, now), current.updated_at)
        try:
            ctx.invoices.save_summary(current)
        except ConcurrentUpdate:
            current = None
            time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 5)))  # noqa: S311
            continue
        _alert(ctx, before, current)
        return current, True
    raise Unavailable(f"Too many concurrent updates to invoice {invoice_id}; retry.")


def _alert(ctx: Context, before: dict[str, str], invoice: Invoice) -> None:
    """One extra write, only when a status crosses, and never a reason to fail."""
    if ctx.alerts is None or all(before.get(r.id) == r.status for r in invoice.recipients):
        return
    try:
        from chalicelib.core.alerts import crossings  # lazy: only when a status moved

        alerts = crossings(before, invoice)
        if alerts:
            ctx.alerts.record(alerts, ctx.clock())
            ctx.metrics.count("AlertsRecorded", len(alerts))
    except Exception:
        logger.exception("alert not recorded", extra={"invoice_id": invoice.id})
        ctx.metrics.count("AlertsNotRecorded")


# -- re-judging: a late fact changes earlier verdicts (the rarer, costlier path) ---------


def _rejudge_after_delivery(ctx: Context, invoice: Invoice, recipient: Recipient) -> None:
    """A Delivery (or Send) arriving after the fetches it explains re-times them: the
    recipient's fetches up to the longest timing rule after it, at most WINDOW_READ."""
    anchor = recipient.delivered_at or recipient.sent_at
    if anchor is None:
        return
    end = iso(parse_iso(anchor) + SCANNER_NETWORK_WINDOW + timedelta(seconds=1))
    # SES's clock may be behind ours: start at whichever comes first.
    start = min(invoice.created_at, anchor)
    facts = ctx.invoices.facts_between(invoice.id, start, end, WINDOW_READ)
    mine = [e for e in facts if e.recipient_id == recipient.id and e.type in FETCH_TYPES]
    if mine:
        _rejudge(ctx, invoice, recipient, mine, None)


def rejudge(
    ctx: Context, invoice: Invoice, recipient: Recipient, stored: Sequence[TimelineEvent]
) -> int:
    """Re-judge ``stored`` (a window of the recipient's fetches) with the current rules
    and correct the counts; returns how many verdicts changed (``make reclassify``)."""
    return len(_rejudge(ctx, invoice, recipient, stored, _person_before(recipient, stored)))


def _rejudge(
    ctx: Context,
    invoice: Invoice,
    recipient: Recipient,
    stored: Sequence[TimelineEvent],
    person_before: str | None,
) -> list[TimelineEvent]:
    """Each changed verdict is a conditional write on the fact's revision (of two
    re-judges, one wins) and its count difference an ADD under an op of its own."""
    old = {e.key: e for e in stored}
    expires = ctx.invoice_expiry(invoice, _current_account(ctx, invoice))
    changed: list[TimelineEvent] = []
    lost_person: list[TimelineEvent] = []
    for new in judge(stored, recipient, person_before):
        was = old[new.key]
        if not verdict_changed(was, new):
            continue
        new = replace(new, revision=was.revision + 1)
        if not ctx.invoices.set_verdict(invoice.id, new):
            continue
        delta = Counts.of(new).minus(Counts.of(was))
        ctx.invoices.count(
            invoice.id,
            replace(
                count_change(f"{new.key}@{new.revision}", new, Counts()),
                open_count=delta.open_count,
                machine_open_count=delta.machine_open_count,
                click_count=delta.click_count,
            ),
            expires,
        )
        changed.append(new)
        if was.details.get("verdict") in PERSON_VERDICTS and not _person(new):
            lost_person.append(was)
    if changed:
        update_summary(
            ctx,
            invoice.id,
            invoice,
            lambda current: any([apply_to_summary(current, e) for e in changed]),
            max(e.at for e in changed),
        )
    if lost_person:
        _move_firsts(ctx, invoice, recipient.id, lost_person)
    return changed


_FIRSTS = {"open": "first_opened_at", "viewed": "viewed_at"}


def _move_last_open(ctx: Context, invoice_id: str, recipient_id: str, lost: TimelineEvent) -> None:
    """If the lost open was the last one, the person's open before it (within
    WINDOW_READ facts) becomes the last; conditional, so a later open is kept."""
    before = ctx.invoices.facts_page(
        invoice_id, WINDOW_READ, None, newest_first=True, end=f"{lost.at}#{lost.key}"
    ).events
    previous = next(
        (
            e.at
            for e in before
            if e.recipient_id == recipient_id
            and e.type == "open"
            and e.key != lost.key
            and _person(e)
            and e.details.get("counted", True)
        ),
        None,
    )
    ctx.invoices.move_last_open(invoice_id, recipient_id, lost.at, previous)


def _move_firsts(
    ctx: Context, invoice: Invoice, recipient_id: str, lost: Sequence[TimelineEvent]
) -> None:
    """A re-judge took a person's verdict from what the summary shows as a first open
    or view: the next one after it becomes the first (one read of at most WINDOW_READ
    facts, so a flood of bursts costs the same at any history; none found there: no
    first, until ``make reclassify`` recounts)."""
    for event in lost:
        if event.type == "open":
            _move_last_open(ctx, invoice.id, recipient_id, event)
        field = _FIRSTS.get(event.type)
        shown = invoice.recipient(recipient_id)
        if field is None or shown is None or getattr(shown, field) != event.at:
            continue
        after = ctx.invoices.facts_between(invoice.id, event.at, "9999", WINDOW_READ)
        successor = next(
            (
                e.at
                for e in after
                if e.recipient_id == recipient_id
                and e.type == event.type
                and _person(e)
                and e.details.get("counted", True)
                and e.key != event.key
            ),
            None,
        )

        def move(
            current: Invoice, field: str = field, old: str = event.at, new: str | None = successor
        ) -> bool:
            target = current.recipient(recipient_id)
            if target is None or getattr(target, field) != old:
                return False
            setattr(target, field, new)
            refresh_statuses(current)
            return True

        invoice, _ = update_summary(ctx, invoice.id, invoice, move)


def _person(event: TimelineEvent) -> bool:
    return event.details.get("verdict") in PERSON_VERDICTS
