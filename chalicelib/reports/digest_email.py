"""The daily digest as an email: a bar chart made of table cells (no script, no SVG:
mail clients render it), the unopened invoices and the problems, in the account's
language (templates digest_email.html and .txt)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.core.model import parse_iso
from chalicelib.render.engine import RenderedEmail, babel_locale, local_datetime, render
from chalicelib.render.report_strings import report_strings
from chalicelib.reports.digest import METRICS, Digest

_BAR_COLORS = {
    "sent": "#a1a1aa",
    "delivered": "#60a5fa",
    "opened": "#2563eb",
    "viewed": "#16a34a",
    "bounced": "#f59e0b",
    "complained": "#dc2626",
}


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


def _local_date(at: str, time_zone: str, locale: Any) -> str:
    from babel.dates import format_date

    return str(
        format_date(parse_iso(at).astimezone(ZoneInfo(time_zone)).date(), "medium", locale=locale)
    )


def render_digest(digest: Digest, sender: str, report_address: str, locale: str) -> RenderedEmail:
    """Subject, HTML (CSS inlined) and text of the digest, in the account's language."""
    from babel.dates import format_date

    language = babel_locale(locale)
    texts = report_strings(locale)
    period = digest.period
    if period.day:
        when = texts["on_day"].format(day=format_date(period.day, "full", locale=language))
        short_when = format_date(period.day, "medium", locale=language)
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
        "lang": str(language).replace("_", "-"),
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
                "delivered": _local_date(u.delivered_at, period.time_zone, language),
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
                "at": local_datetime(p.at, period.time_zone, language),
            }
            for p in digest.problems
        ],
        "problems_more": (
            texts["more"].format(count=digest.problems_total - len(digest.problems))
            if digest.problems_total > len(digest.problems)
            else None
        ),
        "payments": [
            {
                "number": p.number,
                "customer": p.customer,
                "what": texts["paid_what"].format(amount=p.amount, currency=p.currency),
                "reference": p.reference,
                "at": _local_date(p.paid_at, period.time_zone, language),
            }
            for p in digest.payments
        ],
        "payments_more": (
            texts["more"].format(count=digest.payments_total - len(digest.payments))
            if digest.payments_total > len(digest.payments)
            else None
        ),
        "footer": texts["digest_footer"].format(**values),
    }
    html, text = render("digest_email", context)
    return RenderedEmail(subject=subject, html=html, text=text)
