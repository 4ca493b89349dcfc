"""Unit tests for the invoice email renderer (pure: no AWS, no network)."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from chalicelib.render.engine import SUPPORTED_LANGUAGES, RenderedEmail
from chalicelib.render.invoice_email import (
    EmailLine,
    InvoiceEmail,
    default_subject,
    render_invoice_email,
)
from chalicelib.render.translations import STRINGS

REPO_ROOT = Path(__file__).resolve().parents[2]
NBSP = "\xa0"
PIXEL_URL = "https://t.example.com/o/abc123.gif?s=1&v=2"
VIEW_URL = "https://app.example.com/i/abc123?utm=email&x=1"
SCRIPT = "<script>alert(1)</script>"


def make_invoice(**overrides: Any) -> InvoiceEmail:
    base = InvoiceEmail(
        number="INV-001",
        customer_name="Globex Corporation",
        currency="USD",
        total=Decimal("1234.50"),
        due_date=date(2026, 3, 5),
        issue_date=date(2026, 2, 3),
        lines=(
            EmailLine("Design work", Decimal(2), Decimal("500.00")),
            EmailLine("Hosting", Decimal(3), Decimal("19.99")),
        ),
        message=None,
        sender_name="Acme",
        locale="en",
        recipient_name="Jane",
        pixel_url=None,
        view_url=None,
        has_pdf=False,
    )
    return dataclasses.replace(base, **overrides)


class _Page(HTMLParser):
    """Collects visible text, tags with their attributes and <style> contents."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text_parts: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self.links: list[tuple[str | None, str]] = []
        self._skip = 0
        self._href: str | None = None
        self._link_text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in {"style", "title"}:
            self._skip += 1
        if tag == "a":
            self._href, self._link_text = dict(attrs).get("href"), []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"style", "title"}:
            self._skip -= 1
        if tag == "a" and self._link_text is not None:
            self.links.append((self._href, "".join(self._link_text).strip()))
            self._link_text = None

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "style" and self._skip:
            self.styles.append(data)
        if self._skip:
            return
        self.text_parts.append(data)
        if self._link_text is not None:
            self._link_text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def visible(html: str) -> str:
    """Visible text, ASCII whitespace collapsed (NBSP kept, as in formatted money)."""
    return re.sub(r"[ \t\r\n]+", " ", "".join(parse(html).text_parts)).strip()


def render(**overrides: Any) -> RenderedEmail:
    return render_invoice_email(make_invoice(**overrides))


# --- languages and formatting ---------------------------------------------------------


def test_english_strings_dates_and_money() -> None:
    rendered = render(message="Thanks for your business")
    html_text = visible(rendered.html)

    for expected in (
        "Hello Jane,",
        "Acme has sent you invoice INV-001.",
        "Invoice number INV-001",
        "Customer Globex Corporation",
        "Issue date February 3, 2026",
        "Due date March 5, 2026",
        "Description Quantity Unit price Amount",
        "Total $1,234.50",
        "Amount due $1,234.50 Due March 5, 2026",
        "Message from Acme Thanks for your business",
        "Acme sent you this invoice with Sobre.",
    ):
        assert expected in html_text
    assert 'lang="en-US"' in rendered.html
    assert "$1,234.50" in rendered.text
    assert re.search(r"^Due date: +March 5, 2026$", rendered.text, re.MULTILINE)


def test_spanish_strings_dates_and_money() -> None:
    rendered = render(locale="es", currency="EUR", recipient_name="Ana", view_url=VIEW_URL)
    html_text = visible(rendered.html)

    for expected in (
        "Hola, Ana:",
        "Acme le ha enviado la factura INV-001.",
        "Número de factura INV-001",
        "Cliente Globex Corporation",
        "Fecha de emisión 3 de febrero de 2026",
        "Fecha de vencimiento 5 de marzo de 2026",
        "Descripción Cantidad Precio unitario Importe",
        f"Total 1.234,50{NBSP}€",
        f"Importe a pagar 1.234,50{NBSP}€ Vence el 5 de marzo de 2026",
        "Ver factura",
        "Acme le ha enviado esta factura con Sobre.",
    ):
        assert expected in html_text
    assert 'lang="es-ES"' in rendered.html
    assert f"1.234,50{NBSP}€" in rendered.text
    assert re.search(r"^Fecha de vencimiento: +5 de marzo de 2026$", rendered.text, re.MULTILINE)
    assert "Ver la factura en línea:" in rendered.text


def test_spanish_output_has_no_english_strings() -> None:
    # Given every optional block switched on, so every string is rendered
    rendered = render(
        locale="es",
        message="Hola",
        view_url=VIEW_URL,
        has_pdf=True,
        recipient_name=None,
    )

    english = {
        text.split("{", 1)[0].strip()
        for key, text in STRINGS["en"].items()
        if text != STRINGS["es"][key] and text.split("{", 1)[0].strip()
    }
    assert english  # the check below is not vacuous
    for phrase in english:
        assert phrase not in visible(rendered.html), phrase
        assert phrase not in rendered.text, phrase


def test_translation_tables_cover_the_same_strings() -> None:
    assert set(STRINGS) == SUPPORTED_LANGUAGES == {"en", "es"}
    assert STRINGS["en"].keys() == STRINGS["es"].keys()


@pytest.mark.parametrize(
    ("locale", "greeting", "due"),
    [
        ("en-GB", "Hello Jane,", "5 March 2026"),
        ("en_US", "Hello Jane,", "March 5, 2026"),
        ("ES-es", "Hola, Jane:", "5 de marzo de 2026"),
        ("es-XX", "Hola, Jane:", "5 de marzo de 2026"),  # unknown region: es_ES formatting
    ],
)
def test_full_locale_tag_drives_formatting(locale: str, greeting: str, due: str) -> None:
    rendered = render(locale=locale)

    assert greeting in visible(rendered.html)
    assert due in rendered.text


def test_es_locale_tag_uses_its_region_for_money() -> None:
    # es_MX writes EUR differently from es_ES: the region in the tag is honoured
    spain = render(locale="es-ES", currency="EUR")
    mexico = render(locale="es-MX", currency="EUR")

    assert f"1.234,50{NBSP}€" in spain.text
    assert "EUR1,234.50" in mexico.text
    assert "Hola, Jane:" in mexico.text


@pytest.mark.parametrize("locale", ["fr", "fr-FR", "", "zz-ZZ", "not a locale"])
def test_unknown_locale_falls_back_to_english(locale: str) -> None:
    invoice = make_invoice(locale=locale)

    rendered = render_invoice_email(invoice)

    assert rendered.subject == "Invoice INV-001 from Acme"
    assert "Hello Jane," in rendered.text
    assert "March 5, 2026" in rendered.text
    assert "$1,234.50" in visible(rendered.html)


# --- escaping -------------------------------------------------------------------------


def test_user_strings_are_escaped_in_html_and_literal_in_text() -> None:
    rendered = render(
        number=f"INV{SCRIPT}",
        customer_name=f"Globex {SCRIPT}",
        message=f"Hi {SCRIPT}",
        lines=(EmailLine(f"Work {SCRIPT}", Decimal(1), Decimal(10)),),
        sender_name="Acme & Sons",
        recipient_name=f"Jane {SCRIPT}",
    )

    assert "<script" not in rendered.html.lower()
    assert rendered.html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "Acme &amp; Sons" in rendered.html
    # the parsed HTML shows the original characters back as text
    html_text = visible(rendered.html)
    for value in (f"INV{SCRIPT}", f"Globex {SCRIPT}", f"Hi {SCRIPT}", f"Work {SCRIPT}"):
        assert value in html_text
        assert value in rendered.text
    assert "&lt;" not in rendered.text
    assert "&amp;" not in rendered.text
    assert "Acme & Sons" in rendered.text
    assert SCRIPT in rendered.subject


def test_message_newlines_become_br_and_stay_escaped() -> None:
    rendered = render(message="Line one\r\nLine <b>two</b>\n\nLine four")

    assert "Line one<br>\nLine &lt;b&gt;two&lt;/b&gt;<br>\n<br>\nLine four" in rendered.html
    assert "Line one\nLine <b>two</b>\n\nLine four" in rendered.text
    assert "\r" not in rendered.text


def test_no_message_block_without_message() -> None:
    rendered = render(message="  \n ")

    assert "Message from" not in rendered.html
    assert "Message from" not in rendered.text


# --- tracking pixel, view link, PDF note ---------------------------------------------------


def test_pixel_present_when_url_given() -> None:
    rendered = render(pixel_url=PIXEL_URL)

    images = parse(rendered.html).find("img")
    assert images == [
        {
            "src": PIXEL_URL,
            "width": "1",
            "height": "1",
            "alt": "",
            "style": "display:block;border:0;width:1px;height:1px",
        }
    ]
    # near the end of the body: after the footer
    assert rendered.html.index("<img") > rendered.html.index("sent you this invoice with Sobre")
    assert "t.example.com" not in rendered.text


def test_no_pixel_when_tracking_off() -> None:
    rendered = render(pixel_url=None)

    assert parse(rendered.html).find("img") == []
    assert "t.example.com" not in rendered.html


def test_view_link_present_when_url_given() -> None:
    rendered = render(view_url=VIEW_URL)

    links = parse(rendered.html).links
    assert (VIEW_URL, "View invoice") in links
    assert all(href == VIEW_URL for href, _ in links)
    assert f"View the invoice online:\n{VIEW_URL}\n" in rendered.text


def test_no_view_link_without_url() -> None:
    rendered = render(view_url=None)

    assert parse(rendered.html).links == []
    assert "View invoice" not in rendered.html
    assert "View the invoice online" not in rendered.text


@pytest.mark.parametrize("bad_url", ["javascript:alert(1)", "/relative/path", "ftp://x.example"])
@pytest.mark.parametrize("field", ["view_url", "pixel_url"])
def test_non_http_urls_are_rejected(field: str, bad_url: str) -> None:
    with pytest.raises(ValueError, match=field):
        render(**{field: bad_url})


@pytest.mark.parametrize(
    ("locale", "note"),
    [("en", "The invoice is attached as a PDF."), ("es", "La factura se adjunta en formato PDF.")],
)
def test_pdf_note_only_when_pdf_attached(locale: str, note: str) -> None:
    with_pdf = render(locale=locale, has_pdf=True)
    without_pdf = render(locale=locale, has_pdf=False)

    assert note in visible(with_pdf.html)
    assert note in with_pdf.text
    assert note not in without_pdf.html
    assert note not in without_pdf.text


# --- lines and totals ---------------------------------------------------------------


def test_line_amounts_are_quantity_times_unit_price() -> None:
    rendered = render(
        lines=(
            EmailLine("Hosting", Decimal(3), Decimal("19.99")),
            EmailLine("Support hours", Decimal("1.5"), Decimal(80)),
            EmailLine("Stickers", Decimal(1), Decimal("0.125")),
        ),
    )
    html_text = visible(rendered.html)

    assert "Hosting 3 $19.99 $59.97" in html_text
    assert "Support hours 1.5 $80.00 $120.00" in html_text
    # unit price keeps its digits; the amount is rounded half-up (Babel alone gives $0.12)
    assert "Stickers 1 $0.125 $0.13" in html_text
    assert "$59.97" in rendered.text
    assert "$120.00" in rendered.text


def test_total_is_shown_as_given_not_recomputed() -> None:
    rendered = render(total=Decimal("99.99"))

    assert "Total $99.99" in visible(rendered.html)
    assert "$1,059.97" not in rendered.text  # the sum of the lines


def test_text_table_columns_line_up() -> None:
    rendered = render(
        lines=(
            EmailLine(
                "A very long description that has to wrap in plain text",
                Decimal(2),
                Decimal(500),
            ),
            EmailLine("Hosting", Decimal(3), Decimal("19.99")),
        ),
    )
    rows = rendered.text.splitlines()
    header = rows.index(next(r for r in rows if r.startswith("Description")))
    table = rows[header : rows.index(next(r for r in rows if r.startswith("Total"))) + 1]

    money_rows = [r for r in table if r.endswith(("Amount", "$1,000.00", "$59.97", "$1,234.50"))]
    assert len(money_rows) == 4
    assert len({len(r) for r in money_rows}) == 1  # right edges aligned
    # the description wraps at 40 columns; the rest continues under it
    assert table[2].startswith("A very long description that has to wrap  ")
    assert table[3] == "in plain text"
    assert all(len(r) <= 100 for r in table)


def test_issue_date_row_omitted_when_missing() -> None:
    rendered = render(issue_date=None)

    assert "Issue date" not in rendered.html
    assert "Issue date" not in rendered.text
    assert "Due date" in rendered.text


def test_generic_greeting_without_recipient_name() -> None:
    rendered = render(recipient_name=None)

    assert "Hello, Acme has sent you invoice INV-001." in visible(rendered.html)
    assert rendered.text.startswith("Hello,\n")
    assert "Jane" not in rendered.text


# --- subject ------------------------------------------------------------------------


def test_default_subject_per_language() -> None:
    assert default_subject(make_invoice()) == "Invoice INV-001 from Acme"
    assert default_subject(make_invoice(locale="es-ES")) == "Factura INV-001 de Acme"


def test_subject_override_is_used_everywhere() -> None:
    rendered = render_invoice_email(make_invoice(), subject="Your March invoice")

    assert rendered.subject == "Your March invoice"
    assert "<title>Your March invoice</title>" in rendered.html


@pytest.mark.parametrize("subject", [None, "", "   "])
def test_missing_subject_uses_default(subject: str | None) -> None:
    rendered = render_invoice_email(make_invoice(locale="es"), subject=subject)

    assert rendered.subject == "Factura INV-001 de Acme"


def test_subject_is_a_single_header_line() -> None:
    rendered = render_invoice_email(make_invoice(), subject="Hello\r\nBcc: evil@example.com")

    assert rendered.subject == "Hello Bcc: evil@example.com"
    assert default_subject(make_invoice(sender_name="Acme\nInc")) == "Invoice INV-001 from Acme Inc"


# --- HTML shape and cold start ------------------------------------------------------


def test_css_is_inlined_and_media_query_kept() -> None:
    rendered = render()
    page = parse(rendered.html)

    styles = "".join(page.styles)
    assert "@media" in styles
    assert ".content { padding: 32px" not in styles  # plain rules were inlined...
    contents = [a for a in page.find("td") if a.get("class") == "content"]
    assert contents
    assert "padding: 32px" in (contents[0].get("style") or "")  # ...onto the elements
    assert "max-width: 600px" in rendered.html


def test_import_does_not_load_rendering_libraries() -> None:
    heavy = ("jinja2", "markupsafe", "css_inline", "babel")
    code = (
        "import sys, chalicelib.render.invoice_email; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == ""


def test_default_subject_does_not_need_the_rendering_libraries() -> None:
    code = (
        "import sys, datetime, decimal, chalicelib.render.invoice_email as m; "
        "inv = m.InvoiceEmail('INV-9', 'C', 'EUR', decimal.Decimal(1), datetime.date(2026, 1, 1),"
        " None, (), None, 'Acme', 'es', None, None, None, False); "
        "print(m.default_subject(inv)); print('babel' in sys.modules, 'jinja2' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Factura INV-9 de Acme", "False False"]
