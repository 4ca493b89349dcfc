"""In-memory ``ReportStore`` and ``WebhookPoster`` for the reports, reminders and
alerts tests (chalicelib/reports, chalicelib/alerts), following the DynamoDB adapter's
contracts (chalicelib/adapters/dynamo): conditional markers, versioned webhooks and
deliveries, the due-task queue read behind a lease, pages of invoices by activity and
status."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.context import Jobs
from chalicelib.core.alerts import Alert
from chalicelib.core.model import Account, Invoice, Lease, Page, iso
from chalicelib.core.webhooks import AttemptResult, Delivery, Task, Webhook, alert_task
from chalicelib.errors import ConcurrentUpdate, InvalidCursor
from tests.fakes import FakeInvoiceStore, World, _list_projection, make_world


class FakeReportStore:
    def __init__(self, invoices: FakeInvoiceStore, accounts: dict[str, Account]) -> None:
        self._invoices = invoices
        self._accounts = accounts
        self.markers: dict[str, dict[str, str]] = {}
        self.tasks: dict[str, Task] = {}
        self.cursor: dict[str, Any] = {"position": None, "lease_until": None, "version": None}
        self.webhooks: dict[tuple[str, str], Webhook] = {}
        self.delivery_items: dict[tuple[str, str], Delivery] = {}
        self.fail_record = False

    # accounts
    def account_ids(self) -> Iterator[str]:
        yield from sorted(self._accounts)

    def list_account(self, account_id: str) -> None:
        pass  # the fake account store is the directory

    # invoices
    def _mine(self, account: Account) -> list[Invoice]:
        found = [i for i in self._invoices.invoices.values() if i.account_id == account.id]
        return sorted(found, key=lambda i: (i.updated_at, i.id), reverse=True)

    def changed_page(
        self, account: Account, since: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> Page:
        offset = 0
        if cursor is not None:
            if set(cursor) != {"offset"} or not isinstance(cursor["offset"], int):
                raise InvalidCursor("offset")
            offset = cursor["offset"]
        active = [i for i in self._mine(account) if since is None or i.updated_at >= since]
        taken = active[offset : offset + limit]
        more = offset + limit < len(active)
        return Page(
            [_list_projection(i) for i in taken], {"offset": offset + limit} if more else None
        )

    def in_status(
        self, account: Account, status: str, after: str | None, before: str | None, limit: int
    ) -> Iterator[Invoice]:
        found = [
            i
            for i in self._mine(account)
            if i.status == status
            and i.payment_status == "unpaid"  # the adapter reads the unpaid partitions only
            and (after is None or i.updated_at >= after)
            and (before is None or i.updated_at <= before + "~")
        ]
        for invoice in found[:limit]:
            yield _list_projection(invoice)

    # markers
    def claim(self, key: str, at: str, expires_at: int, stale_before: str | None = None) -> bool:
        existing = self.markers.get(key)
        stale = (
            existing is not None
            and stale_before is not None
            and existing["state"] == "claimed"
            and existing["at"] < stale_before
        )
        if existing is not None and existing["state"] != "failed" and not stale:
            return False
        self.markers[key] = {"state": "claimed", "at": at, "detail": ""}
        return True

    def settle(self, key: str, state: str, at: str, expires_at: int, detail: str = "") -> None:
        self.markers[key] = {"state": state, "at": at, "detail": detail}

    # queue
    def schedule(self, tasks: list[Task]) -> None:
        for task in tasks:
            self.tasks[task.position] = task

    def record(self, alerts: list[Alert], recorded_at: datetime) -> None:
        if self.fail_record:
            raise RuntimeError("the table is unreachable")
        self.schedule([alert_task(alert, recorded_at) for alert in alerts])

    def recorded_alerts(self) -> list[Alert]:
        return [Alert.from_dict(t.data) for t in self.tasks.values() if t.kind == "alert"]

    def lease(self, now: datetime, seconds: int) -> Lease | None:
        if self.cursor["lease_until"] and self.cursor["lease_until"] > iso(now):
            return None
        version = (self.cursor["version"] or 0) + 1
        until = iso(now + timedelta(seconds=seconds))
        self.cursor = {**self.cursor, "lease_until": until, "version": version}
        return Lease(self.cursor["position"], version, until)

    def due(self, after: str, until: str) -> Iterator[Task]:
        for position in sorted(self.tasks):
            if after < position <= until + "#~":
                yield self.tasks[position]

    def release(self, lease: Lease, position: str | None) -> None:
        if self.cursor["version"] != lease.version:
            raise ConcurrentUpdate("cursor")
        version = (lease.version or 0) + 1
        self.cursor = {"position": position, "lease_until": None, "version": version}

    # webhooks
    def put_webhook(self, webhook: Webhook) -> None:
        key = (webhook.account_id, webhook.id)
        stored = self.webhooks.get(key)
        if (stored.version if stored else None) != webhook.version:
            raise ConcurrentUpdate(webhook.id)
        webhook.version = (webhook.version or 0) + 1
        self.webhooks[key] = copy.deepcopy(webhook)

    def get_webhook(self, account_id: str, webhook_id: str) -> Webhook | None:
        return copy.deepcopy(self.webhooks.get((account_id, webhook_id)))

    def list_webhooks(self, account_id: str) -> list[Webhook]:
        return [copy.deepcopy(w) for (a, _), w in sorted(self.webhooks.items()) if a == account_id]

    # deliveries
    def add_delivery(self, delivery: Delivery) -> bool:
        key = (delivery.webhook_id, delivery.key)
        if key in self.delivery_items:
            return False
        delivery.version = 1
        self.delivery_items[key] = copy.deepcopy(delivery)
        return True

    def get_delivery(self, webhook_id: str, key: str) -> Delivery | None:
        return copy.deepcopy(self.delivery_items.get((webhook_id, key)))

    def save_delivery(self, delivery: Delivery) -> None:
        key = (delivery.webhook_id, delivery.key)
        stored = self.delivery_items.get(key)
        if (stored.version if stored else None) != delivery.version:
            raise ConcurrentUpdate(delivery.event_id)
        delivery.version = (delivery.version or 0) + 1
        self.delivery_items[key] = copy.deepcopy(delivery)

    def deliveries(
        self, webhook_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Delivery], dict[str, Any] | None]:
        mine = sorted(
            (d for (w, _), d in self.delivery_items.items() if w == webhook_id),
            key=lambda d: d.key,
            reverse=True,
        )
        offset = int((cursor or {}).get("offset", 0))
        more = offset + limit < len(mine)
        items = [copy.deepcopy(d) for d in mine[offset : offset + limit]]
        return items, {"offset": offset + limit} if more else None


@dataclass
class Posted:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakePoster:
    """Answers every POST with ``status`` (None: no answer at all), recording it."""

    status: int | None = 200
    posted: list[Posted] = field(default_factory=list)
    answer: Callable[[Posted], AttemptResult] | None = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        request = Posted(url, body, dict(headers))
        self.posted.append(request)
        if self.answer is not None:
            return self.answer(request)
        if self.status is None:
            return AttemptResult(None, "ConnectionRefusedError: refused", 3)
        error = None if 200 <= self.status < 300 else "receiver error"
        return AttemptResult(self.status, error, 3)


@dataclass
class ReportWorld:
    world: World
    store: FakeReportStore
    poster: FakePoster
    jobs: Jobs

    def at(self, moment: datetime) -> Jobs:
        """The jobs as a scheduled event at ``moment`` runs them (the clock moves too)."""
        self.world.clock.set(moment)
        return self.jobs


def make_report_world(**settings: Any) -> ReportWorld:
    world = make_world(**settings)
    store = FakeReportStore(world.invoices, world.accounts.accounts)
    world.ctx = replace(world.ctx, alerts=store)
    poster = FakePoster()
    return ReportWorld(world, store, poster, Jobs(world.ctx, store, poster))


def ses_message(
    kind: str, message_id: str, address: str, tags: dict[str, str], at: str
) -> dict[str, Any]:
    """An SES event-publishing message (Delivery, Bounce or Complaint) as SNS carries it."""
    body: dict[str, Any]
    if kind == "Delivery":
        body = {
            "delivery": {
                "timestamp": at,
                "recipients": [address],
                "smtpResponse": "250 2.0.0 OK 1700000000 q7si123 - gsmtp",
                "remoteMtaIp": "203.0.113.25",
                "reportingMTA": "a8-49.smtp-out.amazonses.com",
                "processingTimeMillis": 912,
            }
        }
    elif kind == "Bounce":
        body = {
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "timestamp": at,
                "feedbackId": "feedback-bounce",
                "bouncedRecipients": [
                    {
                        "emailAddress": address,
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                        "status": "5.1.1",
                        "action": "failed",
                    }
                ],
            }
        }
    elif kind == "Complaint":
        body = {
            "complaint": {
                "timestamp": at,
                "feedbackId": "feedback-complaint",
                "complaintFeedbackType": "abuse",
                "complainedRecipients": [{"emailAddress": address}],
            }
        }
    else:
        raise ValueError(kind)
    mail = {
        "timestamp": at,
        "source": "billing@acme.example",
        "messageId": message_id,
        "destination": [address],
        "tags": {name: [value] for name, value in tags.items()},
    }
    return {"eventType": kind, "mail": mail, **body}
