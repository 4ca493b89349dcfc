"""Webhooks over the API: register, list, read, delete, enable again, and their
deliveries (``/webhooks``). At most ``MAX_WEBHOOKS`` an account; URLs checked against
SSRF (chalicelib/core/ssrf.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib import ids
from chalicelib.alerts.validation import parse_webhook_request
from chalicelib.context import Jobs
from chalicelib.core.model import Account, iso
from chalicelib.core.paging import encode_cursor, foreign_cursor, read_cursor, read_limit
from chalicelib.core.webhooks import MAX_WEBHOOKS, Delivery, Webhook, delivery_task
from chalicelib.errors import ConcurrentUpdate, Conflict, InvalidCursor, NotFound
from chalicelib.errors import ValidationFailed as Invalid

PAGE = 100


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
        id=ids.new_webhook_id(),
        account_id=account.id,
        url=url,
        events=events,
        secret=ids.new_webhook_secret(),
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


def list_deliveries(
    jobs: Jobs, account: Account, webhook_id: str, limit: str | None, cursor: str | None
) -> tuple[list[Delivery], str | None]:
    webhook = _owned(jobs, account, webhook_id)
    errors: list[dict[str, str]] = []
    size = read_limit(limit, 25, 100, errors)
    start = read_cursor(cursor, errors)
    if errors:
        raise Invalid("Bad query.", errors)
    try:
        items, after = jobs.store.deliveries(webhook.id, size, start)
    except InvalidCursor as exc:
        raise foreign_cursor() from exc
    return items, encode_cursor(after)
