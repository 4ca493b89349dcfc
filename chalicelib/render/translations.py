"""User-facing strings for the invoice email, in every supported language.

Strings are plain text with ``str.format`` placeholders (``{sender}``, ``{number}``...).
They never contain HTML: the HTML template escapes them, values included, on output.

Pure data, no imports beyond the standard library, so importing it costs nothing at
cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DEFAULT_LANGUAGE = "en"

_EN: dict[str, str] = {
    "subject": "Invoice {number} from {sender}",
    "preheader": "Invoice {number} from {sender}: {total} due {due_date}",
    "greeting": "Hello,",
    "greeting_named": "Hello {name},",
    "intro": "{sender} has sent you invoice {number}.",
    "message_heading": "Message from {sender}",
    "amount_due": "Amount due",
    "due_on": "Due {due_date}",
    "invoice_number": "Invoice number",
    "customer": "Customer",
    "issue_date": "Issue date",
    "due_date": "Due date",
    "description": "Description",
    "quantity": "Quantity",
    "quantity_short": "Qty",
    "unit_price": "Unit price",
    "amount": "Amount",
    "total": "Total",
    "view_invoice": "View invoice",
    "view_invoice_text": "View the invoice online:",
    "link_fallback": "If the button does not work, copy this link into your browser:",
    "pdf_attached": "The invoice is attached as a PDF.",
    "footer": "{sender} sent you this invoice with Sobre.",
}

_ES: dict[str, str] = {
    "subject": "Factura {number} de {sender}",
    "preheader": "Factura {number} de {sender}: {total}, vence el {due_date}",
    "greeting": "Hola:",
    "greeting_named": "Hola, {name}:",
    "intro": "{sender} le ha enviado la factura {number}.",
    "message_heading": "Mensaje de {sender}",
    "amount_due": "Importe a pagar",
    "due_on": "Vence el {due_date}",
    "invoice_number": "Número de factura",
    "customer": "Cliente",
    "issue_date": "Fecha de emisión",
    "due_date": "Fecha de vencimiento",
    "description": "Descripción",
    "quantity": "Cantidad",
    "quantity_short": "Cant.",
    "unit_price": "Precio unitario",
    "amount": "Importe",
    "total": "Total",
    "view_invoice": "Ver factura",
    "view_invoice_text": "Ver la factura en línea:",
    "link_fallback": "Si el botón no funciona, copie este enlace en su navegador:",
    "pdf_attached": "La factura se adjunta en formato PDF.",
    "footer": "{sender} le ha enviado esta factura con Sobre.",
}

STRINGS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"en": MappingProxyType(_EN), "es": MappingProxyType(_ES)}
)
"""Language code -> string key -> text. Every language has the same keys."""


def strings_for(language: str) -> Mapping[str, str]:
    """Return the string table for ``language``, English when it is not supported.

    Parameters
    ----------
    language:
        A bare, lower-case language code such as ``"es"``.
    """
    return STRINGS.get(language, STRINGS[DEFAULT_LANGUAGE])
