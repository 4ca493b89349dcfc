"""Render the invoice email (subject, HTML and plain-text parts); the hosted invoice
page shows the same HTML (chalicelib/render/hosted_page.py).

Pure: no AWS, no network, no clock. The caller builds an :class:`InvoiceEmail` and sends
the :class:`RenderedEmail` however it likes.

Jinja2, css_inline, MarkupSafe and Babel are imported lazily, on the first render, so
importing this module adds nothing to a Lambda cold start for the handlers that never
send email. The Jinja2 environment, the CSS inliner and resolved locales are cached per
process.

Example
-------
>>> rendered = render_invoice_email(invoice)  # doctest: +SKIP
>>> rendered.subject
'Invoice INV-001 from Acme'
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from chalicelib.render.engine import (
    RenderedEmail,
    babel_locale,
    environment,
    inliner,
    language_of,
    money,
)
from chalicelib.render.translations import strings_for

if TYPE_CHECKING:
    from babel.core import Locale

    from chalicelib.core.model import Account, Invoice, Recipient

__all__ = [
    "EmailLine",
    "InvoiceEmail",
    "RenderedEmail",
    "default_subject",
    "render_invoice",
    "render_invoice_email",
]

HTML_TEMPLATE = "invoice_email.html"
TEXT_TEMPLATE = "invoice_email.txt"

_TEXT_DESCRIPTION_WIDTH = 40
_TEXT_COLUMN_GAP = "  "


@dataclass(frozen=True)
class EmailLine:
    """One invoice line as shown in the email."""

    description: str
    quantity: Decimal
    unit_price: Decimal


@dataclass(frozen=True)
class InvoiceEmail:
    """Everything the invoice email shows.

    ``total`` is displayed as given (it may include taxes or discounts the lines do
    not show); line amounts are ``quantity * unit_price``.
    """

    number: str
    customer_name: str
    currency: str
    total: Decimal
    due_date: date
    issue_date: date | None
    lines: tuple[EmailLine, ...]
    message: str | None
    sender_name: str
    locale: str
    recipient_name: str | None
    pixel_url: str | None
    view_url: str | None
    has_pdf: bool


@dataclass(frozen=True)
class _LineView:
    description: str
    quantity: str
    unit_price: str
    amount: str


def default_subject(invoice: InvoiceEmail) -> str:
    """Return the subject used when the sender does not write one.

    Parameters
    ----------
    invoice:
        The invoice being sent; only its number, sender name and locale are used.

    Example
    -------
    >>> default_subject(invoice)  # doctest: +SKIP
    'Factura INV-001 de Acme'
    """
    template = strings_for(language_of(invoice.locale))["subject"]
    return _one_line(template.format(number=invoice.number, sender=invoice.sender_name))


def render_invoice_email(invoice: InvoiceEmail, subject: str | None = None) -> RenderedEmail:
    """Render the subject, the HTML part (CSS inlined) and the plain-text part.

    Parameters
    ----------
    invoice:
        What to show. Every string in it is treated as untrusted and escaped in HTML.
    subject:
        The sender's subject; ``None`` or blank uses :func:`default_subject`. Line
        breaks are collapsed so the result is safe to put in a mail header.

    Raises
    ------
    ValueError
        If ``pixel_url`` or ``view_url`` is set but is not an absolute http(s) URL.
    """
    pixel_url = _checked_url(invoice.pixel_url, "pixel_url")
    view_url = _checked_url(invoice.view_url, "view_url")
    language = language_of(invoice.locale)
    locale = babel_locale(invoice.locale)
    currency = invoice.currency.strip().upper()

    lines = tuple(_line_view(line, currency, locale) for line in invoice.lines)
    total = money(invoice.total, currency, locale)
    due_date = _long_date(invoice.due_date, locale)
    issue_date = _long_date(invoice.issue_date, locale) if invoice.issue_date is not None else None
    recipient = (invoice.recipient_name or "").strip()
    message = _normalize_newlines(invoice.message or "").strip()

    values = {
        "number": invoice.number,
        "sender": invoice.sender_name,
        "total": total,
        "due_date": due_date,
        "name": recipient,
    }
    texts = {key: text.format(**values) for key, text in strings_for(language).items()}

    details: list[tuple[str, str]] = [
        (texts["invoice_number"], invoice.number),
        (texts["customer"], invoice.customer_name),
    ]
    if issue_date is not None:
        details.append((texts["issue_date"], issue_date))
    details.append((texts["due_date"], due_date))

    if subject is None or not subject.strip():
        subject = default_subject(invoice)
    subject = _one_line(subject)
    context = {
        "subject": subject,
        "lang": str(locale).replace("_", "-"),
        "t": texts,
        "greeting": texts["greeting_named"] if recipient else texts["greeting"],
        "message": message,
        "details": details,
        "lines": lines,
        "total": total,
        "view_url": view_url,
        "pixel_url": pixel_url,
        "has_pdf": invoice.has_pdf,
    }

    env = environment()
    html = inliner().inline(env.get_template(HTML_TEMPLATE).render(context))
    text = env.get_template(TEXT_TEMPLATE).render(
        context,
        details=_text_details(details),
        table=_text_table(texts, lines, total),
    )
    return RenderedEmail(subject=subject, html=html, text=text)


# --- formatting ---------------------------------------------------------------------


def _quantity(value: Decimal, locale: Locale) -> str:
    from babel.numbers import format_decimal

    return format_decimal(value.normalize(), locale=locale, decimal_quantization=False)


def _long_date(value: date, locale: Locale) -> str:
    from babel.dates import format_date

    return format_date(value, format="long", locale=locale)


def _line_view(line: EmailLine, currency: str, locale: Locale) -> _LineView:
    return _LineView(
        description=_normalize_newlines(line.description).strip(),
        quantity=_quantity(line.quantity, locale),
        # Unit prices keep their extra digits (0.125 €/unit); amounts are rounded.
        unit_price=money(line.unit_price, currency, locale, exact=True),
        amount=money(line.quantity * line.unit_price, currency, locale),
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _normalize_newlines(text: str) -> str:
    return "\n".join(text.splitlines())


def _checked_url(url: str | None, field: str) -> str | None:
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"{field} must be an absolute http(s) URL, got {url!r}")
    return url


# --- plain text layout --------------------------------------------------------------


def _text_details(details: Iterable[tuple[str, str]]) -> list[str]:
    rows = list(details)
    width = max(len(label) for label, _ in rows) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in rows]


def _text_table(texts: Mapping[str, str], lines: Iterable[_LineView], total: str) -> list[str]:
    """Lines table as fixed-width text rows: description left, numbers right."""
    numbers_header = (texts["quantity_short"], texts["unit_price"], texts["amount"])
    rows = [([texts["description"]], numbers_header)]
    rows += [(_wrap(ln.description), (ln.quantity, ln.unit_price, ln.amount)) for ln in lines]
    gap = _TEXT_COLUMN_GAP
    desc_w = max(len(part) for parts, _ in rows for part in parts)
    number_ws = [max(len(numbers[column]) for _, numbers in rows) for column in range(3)]
    width = desc_w + sum(number_ws) + len(gap) * len(number_ws)
    rule = "-" * width

    out: list[str] = []
    for index, (parts, numbers) in enumerate(rows):
        cells = gap.join(value.rjust(w) for value, w in zip(numbers, number_ws, strict=True))
        out.append(f"{parts[0].ljust(desc_w)}{gap}{cells}")
        out.extend(parts[1:])  # wrapped description continues under its first line
        if index == 0:
            out.append(rule)
    out.append(rule)
    label = texts["total"]
    out.append(f"{label}{gap}{total.rjust(width - len(label) - len(gap))}")
    return [row.rstrip() for row in out]


def _wrap(description: str) -> list[str]:
    wrapped = [
        part
        for paragraph in (description.splitlines() or [""])
        for part in (textwrap.wrap(paragraph, _TEXT_DESCRIPTION_WIDTH) or [""])
    ]
    return wrapped or [""]


def render_invoice(
    invoice: Invoice,
    recipient: Recipient,
    account: Account,
    pixel_url: str | None,
    view_url: str | None,
    has_pdf: bool,
) -> RenderedEmail:
    """The invoice as ``recipient`` sees it, in the invoice's language."""
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
