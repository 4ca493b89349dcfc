"""The daily digest: when it is due and what it counts. Pure.

Each account with a report address gets, at 07:00 in its time zone, the previous local
day's figures (recipients first sent, delivered, opened by a person, viewed, bounced,
complained — each counted on the day it first happened), the invoices delivered but
not opened by a person for ``unopened_after_days``, the bounces and complaints, and the
invoices marked paid. No
digest for a quiet day unless the account asks. reports/digest_email.py renders it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.core.model import Invoice, Recipient, iso, parse_iso
from chalicelib.sending.reminders import REMINDABLE

# The digest goes out at DIGEST_HOUR local time; a run missed then (the scheduler fires
# hourly) catches up until DIGEST_LAST_HOUR. Reminders go out in the same hours.
DIGEST_HOUR = 7
DIGEST_LAST_HOUR = 11
UNOPENED_SHOWN = 20
PROBLEMS_SHOWN = 30
METRICS: tuple[str, ...] = ("sent", "delivered", "opened", "viewed", "bounced", "complained")
_TIME_OF = {
    "sent": "sent_at",
    "delivered": "delivered_at",
    "opened": "first_opened_at",
    "viewed": "viewed_at",
    "bounced": "bounced_at",
    "complained": "complained_at",
}


# -- when -----------------------------------------------------------------------------


def digest_day(now: datetime, time_zone: str) -> date | None:
    """The local date whose digest is due at ``now``, or None outside the digest hours.
    The digest of local date D reports on D - 1."""
    local = now.astimezone(ZoneInfo(time_zone))
    return local.date() if DIGEST_HOUR <= local.hour <= DIGEST_LAST_HOUR else None


def next_digest_at(now: datetime, time_zone: str) -> datetime:
    """When the next digest is due: the next DIGEST_HOUR:00 local time after ``now``."""
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    day = local.date() if local.hour < DIGEST_HOUR else local.date() + timedelta(days=1)
    return datetime.combine(day, time(DIGEST_HOUR), zone)


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC (stored-time strings); ``day`` the local day it covers."""

    start: str
    end: str
    day: date | None
    time_zone: str


def previous_day(today: date, time_zone: str) -> Period:
    """The local day before ``today``, from midnight to midnight (23 or 25 hours on the
    days the clocks change)."""
    zone = ZoneInfo(time_zone)
    yesterday = today - timedelta(days=1)
    start = datetime.combine(yesterday, time(0), zone)
    end = datetime.combine(today, time(0), zone)
    return Period(iso(start), iso(end), yesterday, time_zone)


def last_hours(now: datetime, time_zone: str, hours: int = 24) -> Period:
    return Period(iso(now - timedelta(hours=hours)), iso(now), None, time_zone)


# -- the digest's figures -------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    invoice_id: str
    number: str
    customer: str
    email: str
    kind: str  # bounced | complained
    at: str
    detail: str | None


@dataclass(frozen=True)
class Paid:
    invoice_id: str
    number: str
    customer: str
    amount: str
    currency: str
    paid_at: str
    reference: str | None


@dataclass(frozen=True)
class Unopened:
    invoice_id: str
    number: str
    customer: str
    delivered_at: str
    days: int
    recipients: tuple[str, ...]


@dataclass
class Digest:
    """Accumulated page by page, so an account of any size fits in memory."""

    period: Period
    unopened_after_days: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    problems: list[Problem] = field(default_factory=list)
    problems_total: int = 0
    unopened: list[Unopened] = field(default_factory=list)
    unopened_total: int = 0
    payments: list[Paid] = field(default_factory=list)  # marked paid in the period
    payments_total: int = 0

    @property
    def quiet(self) -> bool:
        return not any(self.counts.values()) and not self.payments_total

    def add_activity(self, invoice: Invoice) -> None:
        """An invoice active in or after the period (from the by_account index)."""
        self._add_payment(invoice)
        for recipient in invoice.recipients:
            for metric in METRICS:
                at = getattr(recipient, _TIME_OF[metric])
                if not at or not self.period.start <= at < self.period.end:
                    continue
                self.counts[metric] += 1
                if metric in ("bounced", "complained"):
                    self._add_problem(invoice, recipient, metric, at)

    def _add_payment(self, invoice: Invoice) -> None:
        """Marked paid in the period (when it was recorded: a payment dated earlier
        is news the day it is entered)."""
        payment = invoice.payment or {}
        at = payment.get("recorded_at")
        if invoice.payment_status != "paid" or not at:
            return
        if not self.period.start <= at < self.period.end:
            return
        self.payments_total += 1
        if len(self.payments) < PROBLEMS_SHOWN:
            self.payments.append(
                Paid(
                    invoice.id,
                    invoice.number,
                    invoice.customer_name,
                    payment.get("amount") or invoice.total,
                    invoice.currency,
                    payment.get("paid_at") or at,
                    payment.get("reference"),
                )
            )

    def _add_problem(self, invoice: Invoice, recipient: Recipient, kind: str, at: str) -> None:
        self.problems_total += 1
        if len(self.problems) >= PROBLEMS_SHOWN:
            return
        facts = recipient.bounce if kind == "bounced" else recipient.complaint
        detail = None
        if facts:
            detail = " / ".join(str(v) for v in facts.values() if v) or None
        self.problems.append(
            Problem(
                invoice.id,
                invoice.number,
                invoice.customer_name,
                recipient.email,
                kind,
                at,
                detail,
            )
        )

    def add_unopened(self, invoice: Invoice, now: datetime) -> None:
        """An invoice in status ``delivered`` (nobody opened it): listed once it has
        been delivered for ``unopened_after_days``."""
        delivered = invoice.delivered_at
        if invoice.status != "delivered" or delivered is None:
            return
        age = now - parse_iso(delivered)
        if age < timedelta(days=self.unopened_after_days):
            return
        self.unopened_total += 1
        self.unopened.append(
            Unopened(
                invoice.id,
                invoice.number,
                invoice.customer_name,
                delivered,
                age.days,
                tuple(r.email for r in invoice.recipients if r.status in REMINDABLE),
            )
        )
        # Keep only the oldest few; memory stays bounded however many there are.
        self.unopened.sort(key=lambda u: (u.delivered_at, u.invoice_id))
        del self.unopened[UNOPENED_SHOWN:]


def build_digest(
    period: Period,
    unopened_after_days: int,
    active: Iterable[Invoice],
    delivered: Iterable[Invoice],
    now: datetime,
) -> Digest:
    digest = Digest(period, unopened_after_days)
    for invoice in active:
        digest.add_activity(invoice)
    for invoice in delivered:
        digest.add_unopened(invoice, now)
    return digest
