"""Composes the MIME message for one recipient of an invoice. Pure."""

from __future__ import annotations

from decimal import Decimal
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import TYPE_CHECKING

from chalicelib.model import Invoice, Recipient

if TYPE_CHECKING:
    from chalicelib.email_render import RenderedEmail
    from chalicelib.ports import Account


def render_for(
    invoice: Invoice,
    recipient: Recipient,
    account: Account,
    pixel_url: str | None,
    view_url: str | None,
    has_pdf: bool,
) -> RenderedEmail:
    """The invoice as ``recipient`` sees it, in the invoice's language."""
    from datetime import date

    from chalicelib.email_render import EmailLine, InvoiceEmail, render_invoice_email

    return render_invoice_email(
        InvoiceEmail(
            number=invoice.number,
            customer_name=invoice.customer_name,
            currency=invoice.currency,
            total=Decimal(invoice.total),
            due_date=date.fromisoformat(invoice.due_date),
            issue_date=date.fromisoformat(invoice.issue_date) if invoice.issue_date else None,
            lines=tuple(
                EmailLine(line.description, Decimal(line.quantity), Decimal(line.unit_price))
                for line in invoice.lines
            ),
            message=invoice.message,
            sender_name=account.name,
            locale=invoice.locale,
            recipient_name=recipient.name,
            pixel_url=pixel_url,
            view_url=view_url,
            has_pdf=has_pdf,
        ),
        subject=invoice.subject,
    )


def compose_invoice_message(
    invoice: Invoice,
    recipient: Recipient,
    account: Account,
    pixel_url: str | None,
    view_url: str | None,
    pdf: bytes | None,
) -> bytes:
    rendered = render_for(invoice, recipient, account, pixel_url, view_url, pdf is not None)
    message = EmailMessage()
    message["From"] = formataddr((account.name, account.from_address))
    message["To"] = formataddr((recipient.name or "", recipient.email))
    message["Subject"] = rendered.subject
    reply_to = invoice.reply_to or account.reply_to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Message-ID"] = make_msgid(domain=account.from_address.rsplit("@", 1)[-1])
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    if pdf is not None:
        message.add_attachment(
            pdf,
            maintype="application",
            subtype="pdf",
            filename=f"{_safe_filename(invoice.number)}.pdf",
        )
    return message.as_bytes()


def _safe_filename(number: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in number)
    return cleaned.strip(".") or "invoice"
