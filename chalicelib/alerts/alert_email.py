"""An alert email to the account's report address: who opened, viewed, bounced or
complained, and when (templates alert_email.html and .txt)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.core.model import Invoice, Recipient
from chalicelib.render.engine import RenderedEmail, babel_locale, local_datetime, money, render
from chalicelib.render.report_strings import report_strings


def render_alert(
    event_type: str,
    invoice: Invoice,
    recipient: Recipient,
    at: str,
    time_zone: str,
    locale: str,
    report_address: str,
) -> RenderedEmail:
    language = babel_locale(locale)
    texts = report_strings(locale)
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
        "lang": str(language).replace("_", "-"),
        "title": title,
        "when": texts["alert_when"].format(
            when=local_datetime(at, time_zone, language), time_zone=time_zone
        ),
        "amount": money(Decimal(invoice.total), invoice.currency, language),
        "details": details,
        "invoice_id": invoice.id,
        "footer": texts["alert_footer"].format(address=report_address),
    }
    html, text = render("alert_email", context)
    return RenderedEmail(subject=subject, html=html, text=text)
