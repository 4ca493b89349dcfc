"""The daily digest, reminders and alert emails: what they say and when. Pure.

* **Digest.** Each account with a report address gets, at 07:00 in its time zone, the
  previous local day's figures (recipients first sent, delivered, opened by a person,
  viewed, bounced, complained — each counted on the day it first happened), the
  invoices delivered but not opened by a person for ``unopened_after_days``, the
  bounces and complaints, and a bar chart made of table cells (no script, no SVG:
  mail clients render it). No digest for a quiet day unless the account asks.
* **Reminders.** An invoice nobody has opened, ``reminder_after_days`` after its
  delivery (or its last reminder), is sent again to the recipients who have not
  opened it, at most ``reminder_max`` times; opt-in per account.
* **Alert emails** to the report address when a recipient opens, views, bounces or
  complains (``chalicelib/alerts.py`` decides when).

Templates are in chalicelib/templates (``digest_email.*``, ``alert_email.*``) and share
the invoice email's Jinja2 environment, CSS inliner and Babel locales
(``chalicelib/email_render.py``); everything heavy is imported on first render.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib.model import Invoice, Recipient, iso, parse_iso
from chalicelib.translations import strings_for

if TYPE_CHECKING:
    from chalicelib.email_render import RenderedEmail

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
_BAR_COLORS = {
    "sent": "#a1a1aa",
    "delivered": "#60a5fa",
    "opened": "#2563eb",
    "viewed": "#16a34a",
    "bounced": "#f59e0b",
    "complained": "#dc2626",
}
REMINDABLE: frozenset[str] = frozenset({"sent", "delivered"})

_EN: dict[str, str] = {
    "digest_subject": "{sender}, {short_when}: sent {sent}, opened {opened}, "
    "bounced or complained {problems}",
    "digest_heading": "Your invoices {when}",
    "digest_intro": "What happened to the invoices {sender} sent, {when} ({time_zone}).",
    "on_day": "on {day}",
    "last_hours": "in the last 24 hours",
    "last_hours_short": "last 24 hours",
    "quiet": "Nothing happened that day.",
    "sent": "Sent",
    "delivered": "Delivered",
    "opened": "Opened by a person",
    "viewed": "Viewed online",
    "bounced": "Bounced",
    "complained": "Marked as spam",
    "unopened_heading": "Delivered, not opened after {days} days",
    "unopened_none": "None: every invoice delivered {days} or more days ago was opened.",
    "problems_heading": "Bounces and complaints",
    "more": "... and {count} more.",
    "invoice": "Invoice",
    "customer": "Customer",
    "recipient": "Recipient",
    "delivered_on": "Delivered",
    "what": "What happened",
    "days": "{days} days",
    "bounce_what": "Bounced ({kind})",
    "complaint_what": "Complaint ({kind})",
    "digest_footer": "Sobre sends this report at 07:00 ({time_zone}) to {address}.",
    "alert_invoice.opened": "{who} opened invoice {number}",
    "alert_invoice.viewed": "{who} viewed invoice {number} online",
    "alert_invoice.bounced": "Invoice {number} bounced for {who}",
    "alert_invoice.complained": "{who} marked invoice {number} as spam",
    "alert_when": "{when} ({time_zone})",
    "alert_footer": "Sobre tells {address} when an invoice is opened, viewed, bounces or is "
    "marked as spam.",
    "reminder_prefix": "Reminder: {subject}",
}
_ES: dict[str, str] = {
    "digest_subject": "{sender}, {short_when}: enviadas {sent}, abiertas {opened}, "
    "rebotadas o con queja {problems}",
    "digest_heading": "Sus facturas {when}",
    "digest_intro": "Lo que pasó con las facturas que envió {sender} {when} ({time_zone}).",
    "on_day": "el {day}",
    "last_hours": "en las últimas 24 horas",
    "last_hours_short": "últimas 24 horas",
    "quiet": "Ese día no pasó nada.",
    "sent": "Enviadas",
    "delivered": "Entregadas",
    "opened": "Abiertas por una persona",
    "viewed": "Vistas en línea",
    "bounced": "Rebotadas",
    "complained": "Marcadas como spam",
    "unopened_heading": "Entregadas y sin abrir tras {days} días",
    "unopened_none": "Ninguna: todas las facturas entregadas hace {days} días o más se abrieron.",
    "problems_heading": "Rebotes y quejas",
    "more": "... y {count} más.",
    "invoice": "Factura",
    "customer": "Cliente",
    "recipient": "Destinatario",
    "delivered_on": "Entregada",
    "what": "Qué pasó",
    "days": "{days} días",
    "bounce_what": "Rebote ({kind})",
    "complaint_what": "Queja ({kind})",
    "digest_footer": "Sobre envía este informe a las 07:00 ({time_zone}) a {address}.",
    "alert_invoice.opened": "{who} abrió la factura {number}",
    "alert_invoice.viewed": "{who} vio la factura {number} en línea",
    "alert_invoice.bounced": "La factura {number} rebotó para {who}",
    "alert_invoice.complained": "{who} marcó la factura {number} como spam",
    "alert_when": "{when} ({time_zone})",
    "alert_footer": "Sobre avisa a {address} cuando una factura se abre, se ve, rebota o se "
    "marca como spam.",
    "reminder_prefix": "Recordatorio: {subject}",
}
STRINGS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"en": MappingProxyType(_EN), "es": MappingProxyType(_ES)}
)


def _strings(locale: str) -> Mapping[str, str]:
    return STRINGS.get(locale.split("-")[0].split("_")[0].lower(), STRINGS["en"])


# -- when -----------------------------------------------------------------------------


def digest_day(now: datetime, time_zone: str) -> date | None:
    """The local date whose digest is due at ``now``, or None outside the digest hours.
    The digest of local date D reports on D - 1."""
    local = now.astimezone(ZoneInfo(time_zone))
    return local.date() if DIGEST_HOUR <= local.hour <= DIGEST_LAST_HOUR else None


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

    @property
    def quiet(self) -> bool:
        return not any(self.counts.values())

    def add_activity(self, invoice: Invoice) -> None:
        """An invoice active in or after the period (from the by_account index)."""
        for recipient in invoice.recipients:
            for metric in METRICS:
                at = getattr(recipient, _TIME_OF[metric])
                if not at or not self.period.start <= at < self.period.end:
                    continue
                self.counts[metric] += 1
                if metric in ("bounced", "complained"):
                    self._add_problem(invoice, recipient, metric, at)

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


# -- rendering ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    metric: str
    label: str
    value: int
    width: int  # percent of the widest bar; 0 draws nothing
    color: str
    text_bar: str


def chart(digest: Digest, texts: Mapping[str, str], text_width: int = 30) -> list[Bar]:
    """One horizontal bar per figure, scaled to the largest."""
    top = max(digest.counts.values()) or 1
    bars = []
    for metric in METRICS:
        value = digest.counts[metric]
        width = max(2, round(100 * value / top)) if value else 0
        text_bar = "#" * (max(1, round(text_width * value / top)) if value else 0)
        bars.append(Bar(metric, texts[metric], value, width, _BAR_COLORS[metric], text_bar or "."))
    return bars


def _local(at: str, time_zone: str, locale: Any) -> str:
    from babel.dates import format_datetime

    moment = parse_iso(at).astimezone(ZoneInfo(time_zone))
    return str(format_datetime(moment, format="short", locale=locale))


def _local_date(at: str, time_zone: str, locale: Any) -> str:
    from babel.dates import format_date

    return str(
        format_date(parse_iso(at).astimezone(ZoneInfo(time_zone)).date(), "medium", locale=locale)
    )


def render_digest(digest: Digest, sender: str, report_address: str, locale: str) -> RenderedEmail:
    """Subject, HTML (CSS inlined) and text of the digest, in the account's language."""
    from babel.dates import format_date

    from chalicelib.email_render import RenderedEmail, _babel_locale, _environment, _inliner

    babel_locale = _babel_locale(locale)
    texts = _strings(locale)
    period = digest.period
    if period.day:
        when = texts["on_day"].format(day=format_date(period.day, "full", locale=babel_locale))
        short_when = format_date(period.day, "medium", locale=babel_locale)
    else:
        when, short_when = texts["last_hours"], texts["last_hours_short"]
    values = {
        "sender": sender,
        "when": when,
        "time_zone": period.time_zone,
        "address": report_address,
        "days": digest.unopened_after_days,
    }
    subject = texts["digest_subject"].format(
        sender=sender,
        short_when=short_when,
        sent=digest.counts["sent"],
        opened=digest.counts["opened"],
        problems=digest.counts["bounced"] + digest.counts["complained"],
    )
    subject = " ".join(subject.split())
    context: dict[str, Any] = {
        "subject": subject,
        "lang": str(babel_locale).replace("_", "-"),
        "heading": texts["digest_heading"].format(**values),
        "intro": texts["digest_intro"].format(**values),
        "quiet": texts["quiet"] if digest.quiet else None,
        "bars": chart(digest, texts),
        "t": texts,
        "unopened_heading": texts["unopened_heading"].format(**values),
        "unopened_none": texts["unopened_none"].format(**values),
        "unopened": [
            {
                "number": u.number,
                "customer": u.customer,
                "delivered": _local_date(u.delivered_at, period.time_zone, babel_locale),
                "days": texts["days"].format(days=u.days),
                "recipients": ", ".join(u.recipients),
            }
            for u in digest.unopened
        ],
        "unopened_more": (
            texts["more"].format(count=digest.unopened_total - len(digest.unopened))
            if digest.unopened_total > len(digest.unopened)
            else None
        ),
        "problems": [
            {
                "number": p.number,
                "customer": p.customer,
                "email": p.email,
                "what": texts["bounce_what" if p.kind == "bounced" else "complaint_what"].format(
                    kind=p.detail or "-"
                ),
                "at": _local(p.at, period.time_zone, babel_locale),
            }
            for p in digest.problems
        ],
        "problems_more": (
            texts["more"].format(count=digest.problems_total - len(digest.problems))
            if digest.problems_total > len(digest.problems)
            else None
        ),
        "footer": texts["digest_footer"].format(**values),
    }
    env = _environment()
    html = _inliner().inline(env.get_template("digest_email.html").render(context))
    text = env.get_template("digest_email.txt").render(context)
    return RenderedEmail(subject=subject, html=html, text=text)


def render_alert(
    event_type: str,
    invoice: Invoice,
    recipient: Recipient,
    at: str,
    time_zone: str,
    locale: str,
    report_address: str,
) -> RenderedEmail:
    from chalicelib.email_render import (
        RenderedEmail,
        _babel_locale,
        _environment,
        _inliner,
        _money,
    )

    babel_locale = _babel_locale(locale)
    texts = _strings(locale)
    who = recipient.name or recipient.email
    title = texts[f"alert_{event_type}"].format(who=who, number=invoice.number)
    details: list[tuple[str, str]] = [
        (texts["invoice"], invoice.number),
        (texts["customer"], invoice.customer_name),
        (texts["recipient"], recipient.email),
    ]
    if event_type == "invoice.bounced" and recipient.bounce:
        details.append((texts["what"], " / ".join(str(v) for v in recipient.bounce.values() if v)))
    if event_type == "invoice.complained" and recipient.complaint:
        details.append(
            (texts["what"], " / ".join(str(v) for v in recipient.complaint.values() if v))
        )
    subject = " ".join(title.split())
    context: dict[str, Any] = {
        "subject": subject,
        "lang": str(babel_locale).replace("_", "-"),
        "title": title,
        "when": texts["alert_when"].format(
            when=_local(at, time_zone, babel_locale), time_zone=time_zone
        ),
        "amount": _money(Decimal(invoice.total), invoice.currency, babel_locale),
        "details": details,
        "invoice_id": invoice.id,
        "footer": texts["alert_footer"].format(address=report_address),
    }
    env = _environment()
    html = _inliner().inline(env.get_template("alert_email.html").render(context))
    text = env.get_template("alert_email.txt").render(context)
    return RenderedEmail(subject=subject, html=html, text=text)


def compose(rendered: RenderedEmail, from_name: str, from_address: str, to_address: str) -> bytes:
    """A MIME message (text and HTML) for a report or an alert."""
    from email import policy
    from email.message import EmailMessage
    from email.utils import formataddr, make_msgid

    # Python's folding at 78 characters breaks some subjects before their first word,
    # which readers then show with a leading space; 998 is RFC 5322's own limit.
    message = EmailMessage(policy=policy.default.clone(max_line_length=998))
    message["From"] = formataddr((f"{from_name} (Sobre)", from_address))
    message["To"] = to_address
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain=from_address.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes()


# -- reminders ------------------------------------------------------------------------


def remindable(invoice: Invoice) -> list[Recipient]:
    """The recipients a reminder goes to: sent or delivered, never opened by a person
    (nor bounced, complained, rejected or failed)."""
    return [r for r in invoice.recipients if r.status in REMINDABLE]


def reminder_due(invoice: Invoice, after_days: int, max_reminders: int, now: datetime) -> bool:
    """Nobody opened the invoice, it was delivered (or last reminded) ``after_days``
    ago, and fewer than ``max_reminders`` reminders went out."""
    if invoice.status != "delivered" or invoice.reminders_sent >= max_reminders:
        return False
    contacts = [t for t in (invoice.delivered_at, invoice.last_reminder_at) if t]
    if not contacts:
        return False
    return parse_iso(max(contacts)) <= now - timedelta(days=after_days) and bool(
        remindable(invoice)
    )


def reminder_subject(invoice: Invoice, sender: str) -> str:
    """ "Reminder: <the invoice's subject>", in the invoice's language."""
    language = invoice.locale.split("-")[0].lower()
    subject = invoice.subject or strings_for(language)["subject"].format(
        number=invoice.number, sender=sender
    )
    return " ".join(_strings(invoice.locale)["reminder_prefix"].format(subject=subject).split())
