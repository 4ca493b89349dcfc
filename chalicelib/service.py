"""Sobre's use cases. Each takes a ``Context`` holding the ports it needs, so the same
code runs in Lambda (DynamoDB, SES), in tests and in benchmarks (in-memory fakes)."""

from __future__ import annotations

import base64
import binascii
import json
import random
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib import ids
from chalicelib.errors import ConcurrentUpdate, Conflict, NotFound, Unauthorized, Unavailable
from chalicelib.errors import ValidationFailed as Invalid
from chalicelib.invoices import NewInvoice, parse_new_invoice
from chalicelib.model import STATUSES, EventType, Invoice, Recipient, TimelineEvent, iso
from chalicelib.observability import logger
from chalicelib.ports import (
    Account,
    AccountStore,
    AlertOutbox,
    InvalidCursor,
    InvoiceStore,
    Mailer,
    MessageRef,
    OutgoingEmail,
    Page,
    SendRejected,
    UnprocessedStore,
)
from chalicelib.ses_events import (
    TAG_ACCOUNT,
    TAG_INVOICE,
    TAG_RECIPIENT,
    SesNotification,
    Unprocessable,
    parse_notification,
    sns_message_of,
)
from chalicelib.settings import Settings
from chalicelib.status import Fact, apply_fact, refresh, split_for_archive
from chalicelib.tracking import MAX_USER_AGENT, pixel_open, strip_token, truncate_ip

# Optimistic-lock retries: concurrent opens of one invoice are rare but do happen
# (a scanner fetching every image at once); each retry waits a little, with jitter.
MAX_WRITE_ATTEMPTS = 12
PARK_AFTER_ATTEMPTS = 3
MAX_PAGE = 100
DEFAULT_PAGE = 25


class MetricsSink(Protocol):
    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...


@dataclass
class Context:
    settings: Settings
    invoices: InvoiceStore
    accounts: AccountStore
    unprocessed: UnprocessedStore
    mailer: Mailer
    signer: ids.TokenSigner
    metrics: MetricsSink
    clock: Callable[[], datetime]
    # Reports, reminders and alerts: where status crossings are kept for the scheduled
    # job (None: not recorded, as in benchmarks). See `_update_watching`.
    alerts: AlertOutbox | None = None

    def expires_at(self, from_time: datetime) -> int:
        """The TTL (epoch seconds) for tracking data touched at ``from_time``."""
        return int((from_time + timedelta(days=self.settings.retention_days)).timestamp())


# -- accounts and keys ---------------------------------------------------------------


def create_api_key(
    accounts: AccountStore,
    now: datetime,
    account_id: str,
    from_address: str | None,
    default_sender: str | None = None,
) -> str:
    """Create the account if needed (``from_address`` required then) and a new key.
    The key is returned once; only its hash is stored."""
    from chalicelib.invoices import normalize_email

    if (
        not account_id
        or len(account_id) > 64
        or not all(c.isalnum() or c in "-_" for c in account_id)
    ):
        raise Invalid(
            "Bad account id.",
            [{"field": "account", "message": "1-64 letters, digits, '-' or '_'"}],
        )
    account = accounts.get_account(account_id)
    if account is None and not from_address:
        from_address = default_sender
    if account is None or from_address:
        if not from_address:
            raise Invalid(
                "A new account needs a sender address.",
                [{"field": "from", "message": "is required for a new account"}],
            )
        try:
            sender = normalize_email(from_address)
        except ValueError as exc:
            raise Invalid("Bad sender address.", [{"field": "from", "message": str(exc)}]) from exc
        if account is None:
            account = Account(
                id=account_id, name=account_id, from_address=sender, created_at=iso(now)
            )
        account.from_address = sender
        accounts.put_account(account)
    key = ids.new_api_key()
    accounts.put_key(ids.hash_api_key(key), account.id, iso(now))
    return key


ACCOUNT_SETTINGS = (
    "name",
    "reply_to",
    "report_address",
    "time_zone",
    "locale",
    "tracking",
    "retention_days",
)


def update_account(accounts: AccountStore, account_id: str, changes: dict[str, Any]) -> Account:
    """Change an account's settings; every bad value is reported at once."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from chalicelib.invoices import SUPPORTED_LANGUAGES, normalize_email

    account = accounts.get_account(account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    errors: list[dict[str, str]] = []
    for field, value in changes.items():
        try:
            if field not in ACCOUNT_SETTINGS:
                raise ValueError("is not an account setting")
            if field in ("reply_to", "report_address"):
                value = normalize_email(value) if value else None
            elif field == "time_zone":
                ZoneInfo(value)
            elif field == "locale" and value.split("-")[0] not in SUPPORTED_LANGUAGES:
                raise ValueError(f"must be one of {sorted(SUPPORTED_LANGUAGES)}")
            elif field == "tracking" and not isinstance(value, bool):
                raise ValueError("must be true or false")
            elif field == "retention_days" and not (isinstance(value, int) and 1 <= value <= 3650):
                raise ValueError("must be a number of days from 1 to 3650")
            elif field == "name" and not (isinstance(value, str) and 0 < len(value) <= 200):
                raise ValueError("must be 1 to 200 characters")
        except (ValueError, ZoneInfoNotFoundError) as exc:
            errors.append({"field": field, "message": str(exc) or "is not valid"})
            continue
        setattr(account, field, value)
    if errors:
        raise Invalid("Bad account settings.", errors)
    accounts.put_account(account)
    return account


def authenticate(ctx: Context, authorization: str | None) -> Account:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    account_id = ctx.accounts.account_id_for_key(ids.hash_api_key(key.strip()))
    account = ctx.accounts.get_account(account_id) if account_id else None
    if account is None:
        raise Unauthorized("The API key is not valid.")
    return account


# -- sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    invoice: Invoice
    replayed: bool


def send_invoice(
    ctx: Context, account: Account, body: Any, idempotency_key: str | None
) -> SendResult:
    """Store the invoice, then send one message per recipient."""
    new = parse_new_invoice(body)
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
        raise Invalid(
            "Bad Idempotency-Key.",
            [{"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}],
        )
    invoice_id = (
        ctx.signer.invoice_id_for(account.id, idempotency_key)
        if idempotency_key
        else ids.new_invoice_id()
    )
    invoice = _new_invoice(ctx, account, new, invoice_id, idempotency_key)
    if not ctx.invoices.create(invoice, new.pdf):
        existing = ctx.invoices.get(invoice_id)
        if existing is None or existing.account_id != account.id:
            raise Unavailable("The idempotent request could not be resolved; retry.")
        if existing.body_hash != new.body_hash:
            raise Conflict(
                "This Idempotency-Key was already used with a different body.",
                {"idempotency_key": idempotency_key, "invoice_id": invoice_id},
            )
        return SendResult(existing, replayed=True)
    ctx.metrics.count("InvoicesCreated")
    return SendResult(_deliver(ctx, account, invoice, new.pdf), replayed=False)


def retry_failed(ctx: Context, account: Account, invoice_id: str) -> Invoice:
    """Send again to the recipients that never went out (failed, or never attempted)."""
    invoice = get_invoice(ctx, account, invoice_id)
    pdf = ctx.invoices.get_pdf(invoice) if invoice.has_pdf else None
    return _deliver(ctx, account, invoice, pdf)


def _new_invoice(
    ctx: Context, account: Account, new: NewInvoice, invoice_id: str, idem: str | None
) -> Invoice:
    now = iso(ctx.clock())
    invoice = Invoice(
        id=invoice_id,
        account_id=account.id,
        number=new.number,
        customer_name=new.customer_name,
        currency=new.currency,
        total=new.total,
        due_date=new.due_date,
        issue_date=new.issue_date,
        created_at=now,
        last_activity_at=now,
        recipients=[
            Recipient(id=ids.new_recipient_id(), email=r.email, name=r.name) for r in new.recipients
        ],
        lines=list(new.lines),
        subject=new.subject,
        message=new.message,
        reply_to=new.reply_to,
        locale=new.locale or account.locale or ctx.settings.default_locale,
        metadata=new.metadata,
        body_hash=new.body_hash,
        idempotency_key=idem,
        shard=int.from_bytes(invoice_id.encode()[-2:], "big") % max(1, account.index_shards),
        tracking=account.tracking if new.tracking is None else new.tracking,
        retention_days=account.retention_days,
        has_pdf=new.pdf is not None,
    )
    invoice.events.append(TimelineEvent(f"created-{invoice_id}", now, "created", None, "api", {}))
    refresh(invoice)
    return invoice


def _deliver(ctx: Context, account: Account, invoice: Invoice, pdf: bytes | None) -> Invoice:
    """Send to every recipient not yet sent; record each outcome. A refusal for one
    recipient never stops the others."""
    from chalicelib.compose import compose_invoice_message  # lazy: templating

    facts: list[Fact] = []
    refs: list[MessageRef] = []
    for recipient in invoice.recipients:
        if recipient.sent_at is not None:
            continue
        attempt = recipient.send_attempts + 1
        token = ctx.signer.token_for(invoice.id, recipient.id)
        pixel_url = f"{ctx.settings.base_url}/t/{token}.gif" if invoice.tracking else None
        view_url = f"{ctx.settings.base_url}/v/{token}"
        raw = compose_invoice_message(invoice, recipient, account, pixel_url, view_url, pdf)
        email = OutgoingEmail(
            from_address=account.from_address,
            to_address=recipient.email,
            raw_mime=raw,
            tags={
                TAG_ACCOUNT: account.id,
                TAG_INVOICE: invoice.id,
                TAG_RECIPIENT: recipient.id,
            },
        )
        at = iso(ctx.clock())
        try:
            message_id = ctx.mailer.send(email)
        except SendRejected as exc:
            logger.warning(
                "SES refused a recipient", extra={"invoice_id": invoice.id, "reason": str(exc)}
            )
            facts.append(
                Fact(
                    f"api-failed-{recipient.id}-{attempt}",
                    "send_failed",
                    at,
                    recipient.id,
                    "api",
                    {"reason": str(exc)},
                )
            )
            continue
        ctx.metrics.count("InvoicesSent")
        logger.info("sent", extra={"invoice_id": invoice.id, "message_id": message_id})
        facts.append(
            Fact(
                f"api-sent-{recipient.id}",
                "sent",
                at,
                recipient.id,
                "api",
                {"message_id": message_id},
            )
        )
        refs.append(MessageRef(message_id, account.id, invoice.id, recipient.id))
    if not facts:
        return invoice
    if refs:
        # Classic SES notifications carry no tags: they are matched by message id.
        ctx.invoices.put_message_refs(refs, ctx.expires_at(ctx.clock()))

    def record(current: Invoice) -> bool:
        for recipient in current.recipients:
            if any(f.recipient_id == recipient.id for f in facts):
                recipient.send_attempts += 1
        return any([apply_fact(current, fact) for fact in facts])

    updated = _update(ctx, invoice.id, record, preloaded=invoice)
    return updated.invoice if updated else invoice


@dataclass(frozen=True)
class Updated:
    invoice: Invoice
    changed: bool  # False: nothing new (a duplicate), nothing written


def _update(
    ctx: Context,
    invoice_id: str,
    change: Callable[[Invoice], bool],
    preloaded: Invoice | None = None,
    parkable: Sequence[Fact] = (),
) -> Updated | None:
    """Read, change, write with an optimistic lock; re-read and retry on a lost race.
    Returns the invoice as finally seen, or None when it does not exist.

    A burst of fetches of one invoice (a scanner, or hundreds of opens at once) makes
    writers lose race after race. After PARK_AFTER_ATTEMPTS lost races the ``parkable``
    facts are parked beside the invoice (one unconditional write that cannot lose) and
    the writer is done: every write folds the parked facts in and removes them, so the
    next writer to win carries everyone's facts, and nothing is lost meanwhile."""
    invoice = preloaded
    for attempt in range(MAX_WRITE_ATTEMPTS):
        if invoice is None:
            invoice = ctx.invoices.get(invoice_id)
            if invoice is None:
                return None
        seen = invoice
        folding = _fold_parked(invoice)
        changed = change(invoice)
        if not changed and not folding:
            return Updated(invoice, changed=False)
        archive = split_for_archive(invoice)
        try:
            ctx.invoices.save(invoice, archive)
        except ConcurrentUpdate:
            invoice = None
            if parkable and attempt + 1 >= PARK_AFTER_ATTEMPTS:
                expires = ctx.expires_at(ctx.clock())
                for fact in parkable:
                    ctx.invoices.park(invoice_id, asdict(fact), expires)
                ctx.metrics.count("FactsParked", len(parkable))
                return Updated(seen, changed=True)
            time.sleep(random.uniform(0, 0.005 * 2 ** min(attempt, 5)))  # noqa: S311
            continue
        return Updated(invoice, changed=changed)
    raise Unavailable(f"Too many concurrent updates to invoice {invoice_id}; retry.")


def _fold_parked(invoice: Invoice) -> bool:
    """Apply the facts parked beside ``invoice``; True when there are any to remove."""
    for parked in invoice.parked:
        apply_fact(invoice, Fact(**parked))
    return bool(invoice.parked)


# -- alerts hook (issue "Reports, reminders, alerts and evidence") --------------------


def _update_watching(
    ctx: Context,
    invoice_id: str,
    change: Callable[[Invoice], bool],
    preloaded: Invoice | None = None,
    parkable: Sequence[Fact] = (),
) -> Updated | None:
    """``_update``, then keep an alert for every recipient whose status crossed to
    opened (by a person), viewed, bounced or complained: one extra write, only when a
    status crosses (never for a repeated open), and never a reason to fail the caller.
    The scheduled job delivers them (chalicelib/report_service.py)."""
    before: dict[str, str] = {}

    def watched(invoice: Invoice) -> bool:
        before.clear()
        before.update({r.id: r.status for r in invoice.recipients})
        return change(invoice)

    updated = _update(ctx, invoice_id, watched, preloaded, parkable)
    if updated is None or not updated.changed or ctx.alerts is None:
        return updated
    if all(before.get(r.id) == r.status for r in updated.invoice.recipients):
        return updated
    try:
        from chalicelib.alerts import crossings  # lazy: only when a status moved

        alerts = crossings(before, updated.invoice)
        if alerts:
            ctx.alerts.record(alerts, ctx.clock())
            ctx.metrics.count("AlertsRecorded", len(alerts))
    except Exception:
        logger.exception("alert not recorded", extra={"invoice_id": invoice_id})
        ctx.metrics.count("AlertsNotRecorded")
    return updated


def record_reminder(ctx: Context, invoice_id: str, facts: list[Fact], at: str) -> Invoice | None:
    """Keep a reminder in the invoice's history: a ``reminder`` fact per recipient
    reminded, ``reminders_sent`` + 1 and ``last_reminder_at`` (one conditional write)."""

    def record(invoice: Invoice) -> bool:
        invoice.reminders_sent += 1
        invoice.last_reminder_at = at
        for fact in facts:
            apply_fact(invoice, fact)
        return True

    updated = _update(ctx, invoice_id, record)
    return updated.invoice if updated else None


# -- tracking ------------------------------------------------------------------------


def record_pixel_open(
    ctx: Context,
    raw_token: str,
    user_agent: str | None,
    source_ip: str | None,
    method: str,
    request_id: str | None,
) -> bool:
    """Record one open for the token's recipient. False for a forged or unknown token."""
    target = ctx.signer.verify(strip_token(raw_token))
    if target is None:
        ctx.metrics.count("PixelTokenRejected")
        return False
    fact = pixel_open(target, ctx.clock(), user_agent, source_ip, method, request_id)
    updated = _update_watching(
        ctx,
        target.invoice_id,
        lambda invoice: invoice.tracking and apply_fact(invoice, fact),
        parkable=[fact],
    )
    if updated is None or not updated.changed:
        return False
    ctx.metrics.count("OpensRecorded")
    return True


@dataclass(frozen=True)
class HostedInvoice:
    invoice: Invoice
    recipient: Recipient
    account: Account


def _fetch_fact(
    kind: EventType, target: ids.TrackingTarget, ctx: Context, request: FetchRequest
) -> Fact:
    return Fact(
        key=f"{kind}-{request.request_id or secrets.token_hex(8)}",
        type=kind,
        at=iso(ctx.clock()),
        recipient_id=target.recipient_id,
        source="pixel",
        details={
            "user_agent": (request.user_agent or "")[:MAX_USER_AGENT] or None,
            "ip": truncate_ip(request.source_ip),
            "method": request.method,
            **({"trigger": request.trigger} if request.trigger else {}),
        },
    )


@dataclass(frozen=True)
class FetchRequest:
    """What the hosted invoice's routes know about the request."""

    user_agent: str | None
    source_ip: str | None
    method: str
    request_id: str | None
    trigger: str | None = None


def view_invoice(ctx: Context, raw_token: str, request: FetchRequest) -> HostedInvoice | None:
    """The invoice behind a "View invoice" link, recording the fetch (with its verdict)
    when tracking is on. None for a forged token or an invoice that no longer exists."""
    target = ctx.signer.verify(raw_token)
    invoice = ctx.invoices.get(target.invoice_id) if target else None
    recipient = invoice.recipient(target.recipient_id) if invoice and target else None
    account = ctx.accounts.get_account(invoice.account_id) if invoice else None
    if target is None or invoice is None or recipient is None or account is None:
        return None
    if invoice.tracking:
        fact = _fetch_fact("view", target, ctx, request)
        updated = _update(
            ctx, invoice.id, lambda current: apply_fact(current, fact), invoice, [fact]
        )
        invoice = updated.invoice if updated else invoice
    return HostedInvoice(invoice, recipient, account)


def confirm_view(ctx: Context, raw_token: str, request: FetchRequest) -> bool:
    """The hosted page says it was displayed: record ``viewed`` (a person's verdict
    makes the recipient ``viewed``). False when nothing was recorded."""
    target = ctx.signer.verify(raw_token)
    if target is None:
        return False
    fact = _fetch_fact("viewed", target, ctx, request)
    updated = _update_watching(
        ctx,
        target.invoice_id,
        lambda invoice: invoice.tracking and apply_fact(invoice, fact),
        parkable=[fact],
    )
    return bool(updated and updated.changed)


def hosted_pdf(ctx: Context, raw_token: str) -> tuple[Invoice, bytes] | None:
    target = ctx.signer.verify(raw_token)
    invoice = ctx.invoices.get(target.invoice_id) if target else None
    if invoice is None or not invoice.has_pdf:
        return None
    pdf = ctx.invoices.get_pdf(invoice)
    return (invoice, pdf) if pdf is not None else None


def reclassify(ctx: Context, invoice_ids: Iterable[str]) -> dict[str, int]:
    """Recompute every stored verdict (and so every count and status) with the current
    rules. Events already moved to archive pages keep the verdicts they had."""
    outcome = {"invoices": 0, "changed": 0}

    def change(invoice: Invoice) -> bool:
        before = json.dumps([e.to_dict() for e in invoice.events], sort_keys=True)
        statuses = [r.status for r in invoice.recipients]
        refresh(invoice)
        after = json.dumps([e.to_dict() for e in invoice.events], sort_keys=True)
        return before != after or statuses != [r.status for r in invoice.recipients]

    for invoice_id in invoice_ids:
        outcome["invoices"] += 1
        updated = _update(ctx, invoice_id, change)
        if updated is not None and updated.changed:
            outcome["changed"] += 1
    return outcome


# -- SES events ----------------------------------------------------------------------


def process_sns_event(ctx: Context, event: dict[str, Any]) -> dict[str, int]:
    """Handle every record of a Lambda SNS event. Unprocessable payloads are kept for
    an operator; transient failures raise so that Lambda retries."""
    outcome = {"processed": 0, "duplicate": 0, "ignored": 0, "unprocessable": 0}
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        _keep_unprocessable(ctx, "not an SNS event: no Records", json.dumps(event, default=str))
        outcome["unprocessable"] += 1
        return outcome
    for record in records:
        try:
            notification = parse_notification(sns_message_of(record))
        except Unprocessable as exc:
            _keep_unprocessable(ctx, str(exc), json.dumps(record, default=str))
            outcome["unprocessable"] += 1
            continue
        outcome[apply_notification(ctx, notification)] += 1
    return outcome


def replay_payload(ctx: Context, payload: str) -> str:
    """Process a kept payload again (an SNS record as JSON); returns the outcome."""
    try:
        notification = parse_notification(sns_message_of(json.loads(payload)))
    except (Unprocessable, ValueError) as exc:
        return f"unprocessable: {exc}"
    return apply_notification(ctx, notification)


def _keep_unprocessable(ctx: Context, reason: str, payload: str) -> None:
    item_id = ctx.unprocessed.keep(iso(ctx.clock()), reason, payload)
    ctx.metrics.count("SesEventsUnprocessable")
    logger.warning("unprocessable SNS record kept", extra={"reason": reason, "kept_as": item_id})


def apply_notification(ctx: Context, notification: SesNotification) -> str:
    """'processed', 'duplicate' or 'ignored' (not a message Sobre sent)."""
    invoice_id, recipient_id, account_id = (
        notification.invoice_id,
        notification.recipient_id,
        notification.account_id,
    )
    if invoice_id is None:
        ref = ctx.invoices.get_message_ref(notification.message_id)
        if ref is not None:
            invoice_id, recipient_id, account_id = ref.invoice_id, ref.recipient_id, ref.account_id
    log_keys = {
        "message_id": notification.message_id,
        "invoice_id": invoice_id,
        "event_type": notification.event_type,
    }
    if invoice_id is None:
        logger.info("SES event for a message Sobre did not send", extra=log_keys)
        ctx.metrics.count("SesEventsIgnored")
        return "ignored"

    before = ctx.invoices.get(invoice_id)
    if before is None or (account_id is not None and before.account_id != account_id):
        logger.info("SES event for an unknown invoice", extra=log_keys)
        ctx.metrics.count("SesEventsIgnored")
        return "ignored"
    facts = []
    for event in notification.events:
        recipient = before.recipient_by_email(event.email) or (
            before.recipient(recipient_id) if recipient_id else None
        )
        if recipient is not None:
            facts.append(Fact(event.key, event.type, event.at, recipient.id, "ses", event.details))

    def change(invoice: Invoice) -> bool:
        return any([apply_fact(invoice, fact) for fact in facts])

    updated = _update_watching(ctx, invoice_id, change, preloaded=before, parkable=facts)
    if updated is None or not updated.changed:
        logger.info("duplicate SES event", extra=log_keys)
        return "duplicate"
    ctx.metrics.count("SesEventsProcessed", eventType=notification.event_type)
    logger.info("SES event processed", extra=log_keys)
    return "processed"


# -- queries -------------------------------------------------------------------------


def get_invoice(ctx: Context, account: Account, invoice_id: str) -> Invoice:
    invoice = ctx.invoices.get(invoice_id) if invoice_id.startswith("inv_") else None
    if invoice is None or invoice.account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    return invoice


def get_invoice_with_timeline(
    ctx: Context, account: Account, invoice_id: str
) -> tuple[Invoice, list[TimelineEvent]]:
    found = ctx.invoices.get_with_archive(invoice_id) if invoice_id.startswith("inv_") else None
    if found is None or found[0].account_id != account.id:
        raise NotFound(f"No invoice {invoice_id}.")
    invoice, archived = found
    _fold_parked(invoice)  # shown at once; stored by the invoice's next write
    # An archive page written by a writer that then lost its race repeats events that
    # are still inline (or in a later page): the key says they are the same event.
    unique = {e.key: e for e in archived} | {e.key: e for e in invoice.events}
    return invoice, sorted(unique.values(), key=lambda e: (e.at, e.key))


def list_invoices(
    ctx: Context, account: Account, status: str | None, limit: str | None, cursor: str | None
) -> tuple[list[Invoice], str | None]:
    """A page of the account's invoices (in ``status``, if given), newest activity first.
    ``limit`` and ``cursor`` are the query-string values, validated here."""
    errors = []
    if status is not None and status not in STATUSES:
        errors.append({"field": "status", "message": f"must be one of {list(STATUSES)}"})
    page_size = int(limit) if limit is not None and limit.isascii() and limit.isdigit() else 0
    if limit is None:
        page_size = DEFAULT_PAGE
    if not 1 <= page_size <= MAX_PAGE:
        errors.append({"field": "limit", "message": f"must be an integer from 1 to {MAX_PAGE}"})
    start = None
    if cursor:
        try:
            start = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not isinstance(start, dict):
                raise ValueError(cursor)
        except (ValueError, binascii.Error):
            errors.append({"field": "cursor", "message": "is not a cursor this API returned"})
    if errors:
        raise Invalid("Bad query.", errors)
    shards = range(max(1, account.index_shards))
    if status is None:
        partitions, index = [f"{account.id}#{s}" for s in shards], "by_account"
    else:
        partitions, index = [f"{account.id}#{status}#{s}" for s in shards], "by_status"
    bad_cursor = Invalid("Bad query.", [{"field": "cursor", "message": "belongs to another query"}])
    if start is not None and not set(start) <= set(partitions):
        raise bad_cursor
    try:
        page: Page = ctx.invoices.list_page(partitions, index, page_size, start)
    except InvalidCursor as exc:
        raise bad_cursor from exc
    next_cursor = None
    if page.cursor:
        raw = json.dumps(page.cursor, separators=(",", ":")).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return page.items, next_cursor
