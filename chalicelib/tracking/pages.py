"""The hosted invoice as a page: the email's HTML with a toolbar and, when tracking is
on, the beacon that confirms a display; its Content-Security-Policy allows only that
page load's script (a fresh nonce each time)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from chalicelib.render.hosted_page import content_security_policy, hosted_page
from chalicelib.tracking.service import HostedInvoice


@dataclass(frozen=True)
class Page:
    html: str
    content_security_policy: str


def invoice_page(hosted: HostedInvoice, token: str) -> Page:
    from chalicelib.render.invoice_email import render_invoice  # lazy: templating

    invoice = hosted.invoice
    rendered = render_invoice(
        invoice, hosted.recipient, hosted.account, None, None, invoice.has_pdf
    )
    nonce = secrets.token_urlsafe(16)
    html = hosted_page(
        rendered.html,
        invoice.locale.split("-")[0],
        pdf_url=f"/v/{token}/pdf" if invoice.has_pdf else None,
        beacon_url=f"/v/{token}/seen" if hosted.beacon_nonce else None,
        nonce=nonce,
        beacon_nonce=hosted.beacon_nonce,
        payment_status=invoice.payment_status,
    )
    return Page(html, content_security_policy(nonce))
