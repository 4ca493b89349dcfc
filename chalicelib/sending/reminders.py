"""Which invoices get a reminder, and when. Pure.

An invoice nobody has opened, ``reminder_after_days`` after its delivery (or its last
reminder), is sent again to the recipients who have not opened it, at most
``reminder_max`` times; opt-in per account (chalicelib/reports/service.py queues them,
chalicelib/sending/sender.py sends them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.core.model import Invoice, Recipient, parse_iso
from chalicelib.render.report_strings import report_strings
from chalicelib.render.translations import strings_for

REMINDABLE: frozenset[str] = frozenset({"sent", "delivered"})


def remindable(invoice: Invoice) -> list[Recipient]:
    """The recipients a reminder goes to: sent or delivered, never opened by a person
    (nor bounced, complained, rejected or failed); nobody when the invoice is paid or
    void."""
    if invoice.payment_status != "unpaid":
        return []
    return [r for r in invoice.recipients if r.status in REMINDABLE]


def reminder_due(invoice: Invoice, after_days: int, max_reminders: int, now: datetime) -> bool:
    """Nobody opened the invoice, it was delivered (or last reminded) ``after_days``
    ago, and fewer than ``max_reminders`` reminders went out."""
    if invoice.payment_status != "unpaid":
        return False
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
    return " ".join(
        report_strings(invoice.locale)["reminder_prefix"].format(subject=subject).split()
    )
