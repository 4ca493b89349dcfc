"""The JSON every view of an invoice starts with: the API's list and detail, webhook
payloads and the evidence all name an invoice the same way. Pure."""

from __future__ import annotations

from typing import Any

from chalicelib.core.model import Invoice


def invoice_core(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "customer": {"name": invoice.customer_name},
        "currency": invoice.currency,
        "total": invoice.total,
        "status": invoice.status,
        "payment_status": invoice.payment_status,
    }
