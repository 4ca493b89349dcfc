"""The message one recipient gets: the invoice (or a reminder of it) with their own
tracking token in the pixel and the view link, tagged so that SES's events name them.
Shared by sending and by reminders (chalicelib/reports/service.py)."""

from __future__ import annotations

from chalicelib.context import Context
from chalicelib.core.model import (
    TAG_ACCOUNT,
    TAG_INVOICE,
    TAG_RECIPIENT,
    Account,
    Invoice,
    OutgoingEmail,
    Recipient,
)


def tracked_email(
    ctx: Context, account: Account, invoice: Invoice, recipient: Recipient, pdf: bytes | None
) -> OutgoingEmail:
    from chalicelib.render.mime import invoice_message  # lazy: templating

    # Two tokens: whoever fetches the pixel (an image proxy, a gateway) cannot open the
    # invoice with its token.
    base = ctx.settings.base_url
    pixel = ctx.signer.token_for(invoice.id, recipient.id, "pixel")
    pixel_url = f"{base}/t/{pixel}.gif" if invoice.tracking else None
    view_url = f"{base}/v/{ctx.signer.token_for(invoice.id, recipient.id, 'view')}"
    return OutgoingEmail(
        from_address=account.from_address,
        to_address=recipient.email,
        raw_mime=invoice_message(invoice, recipient, account, pixel_url, view_url, pdf),
        tags={TAG_ACCOUNT: account.id, TAG_INVOICE: invoice.id, TAG_RECIPIENT: recipient.id},
    )
