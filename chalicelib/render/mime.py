"""MIME messages: the invoice (one per recipient) and the account's own reports and
alerts. Pure."""

from __future__ import annotations

from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from typing import TYPE_CHECKING

from chalicelib.core.model import TAG_ACCOUNT, TAG_KIND, OutgoingEmail
from chalicelib.render.invoice_email import render_invoice

if TYPE_CHECKING:
    from chalicelib.core.model import Account, Invoice, Recipient
    from chalicelib.render.engine import RenderedEmail


def invoice_message(
    invoice: Invoice,
    recipient: Recipient,
    account: Account,
    pixel_url: str | None,
    view_url: str | None,
    pdf: bytes | None,
) -> bytes:
    rendered = render_invoice(invoice, recipient, account, pixel_url, view_url, pdf is not None)
    message = EmailMessage()
    message["From"] = mailbox(account.name, account.from_address)
    message["To"] = mailbox(recipient.name, recipient.email)
    message["Subject"] = rendered.subject
    reply_to = invoice.reply_to or account.reply_to
    if reply_to:
        message["Reply-To"] = mailbox(None, reply_to)
    message["Message-ID"] = make_msgid(domain=account.from_address.rsplit("@", 1)[-1])
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    if pdf is not None:
        message.add_attachment(
            pdf,
            maintype="application",
            subtype="pdf",
            filename=f"{safe_filename(invoice.number)}.pdf",
        )
    return message.as_bytes()


def report_message(
    rendered: RenderedEmail, from_name: str, from_address: str, to_address: str
) -> bytes:
    """A MIME message (text and HTML) for a report or an alert."""
    # Python's folding at 78 characters breaks some subjects before their first word,
    # which readers then show with a leading space; 998 is RFC 5322's own limit.
    message = EmailMessage(policy=policy.default.clone(max_line_length=998))
    message["From"] = mailbox(f"{from_name} (Sobre)", from_address)
    message["To"] = mailbox(None, to_address)
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain=from_address.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes()


def mailbox(name: str | None, address: str) -> Address:
    """One mailbox for a header, built by ``email.headerregistry``: the name is quoted or
    encoded as a whole, so whatever it holds it stays one name of one address (never a
    list), and a CR or LF anywhere raises instead of starting a header. Addresses are
    ASCII (IDNA domains: core/addresses.py); SES takes no other."""
    username, _, domain = address.rpartition("@")
    return Address(display_name=name or "", username=username, domain=domain)


def report_email(account: Account, rendered: RenderedEmail, kind: str) -> OutgoingEmail:
    """A digest or an alert, from the account's sender to its report address."""
    assert account.report_address is not None
    return OutgoingEmail(
        from_address=account.from_address,
        to_address=account.report_address,
        raw_mime=report_message(
            rendered, account.name, account.from_address, account.report_address
        ),
        tags={TAG_ACCOUNT: account.id, TAG_KIND: kind},
    )


def safe_filename(number: str) -> str:
    """A file name for the invoice's PDF: letters, digits, "-", "_" and "." only."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in number)
    return cleaned.strip(".") or "invoice"


def pdf_filename(invoice: Invoice) -> str:
    return f"{safe_filename(invoice.number)}.pdf"
