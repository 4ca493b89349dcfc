"""What the account's own emails say, in every supported language: the daily digest,
the alert emails and the reminder's subject. Plain text with ``str.format``
placeholders; the templates escape them on output. Pure data."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

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
    "payments_heading": "Payments",
    "paid_what": "Paid {amount} {currency}",
    "reference": "Reference",
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
    "payments_heading": "Pagos",
    "paid_what": "Pagada: {amount} {currency}",
    "reference": "Referencia",
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


def report_strings(locale: str) -> Mapping[str, str]:
    return STRINGS.get(locale.split("-")[0].split("_")[0].lower(), STRINGS["en"])
