"""The summary is written and read as raw attributes by the low-level client (items.py),
so that the public routes need no pynamodb; the ``InvoiceItem`` model stays the table's
schema (models.py, tests/unit/test_table_definition.py). Both must agree, item for item,
and a summary must read back as the invoice it was written from."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.adapters.dynamo import items, models
from chalicelib.core.model import Invoice, Recipient
from chalicelib.core.status import refresh_statuses

EXPIRES = datetime(2027, 6, 1, 12, 30, 15, 999_000, tzinfo=UTC)


def an_invoice(**changes: object) -> Invoice:
    invoice = Invoice(
        id="inv_" + "b" * 26,
        account_id="acme",
        number="FAC-2026-0042",
        customer_name="Façades Núñez S.L.",
        currency="EUR",
        total="1210.00",
        due_date="2026-12-31",
        created_at="2026-12-01T09:00:00.000Z",
        updated_at="2026-12-02T10:00:00.000Z",
        recipients=[
            Recipient(id="rcp_a", email="ana@globex.example", name="Ana"),
            Recipient(
                id="rcp_b",
                email="bo@globex.example",
                sent_at="2026-12-01T09:00:01.000Z",
                first_opened_at="2026-12-01T10:00:00.000Z",
            ),
        ],
    )
    invoice = replace(invoice, **changes)  # type: ignore[arg-type]
    refresh_statuses(invoice)
    return invoice


CASES = {
    "new": an_invoice(),
    "paid, with details": an_invoice(
        payment_status="paid",
        locale="es",
        reminders_sent=2,
        tracking=False,
        version=7,
    ),
    "empty name": an_invoice(customer_name=""),
}


def pynamodb_item(invoice: Invoice) -> dict[str, Any]:
    """What the InvoiceItem model serializes for the same summary (no version)."""
    raw = items.summary_attributes(invoice, EXPIRES)
    model = models.InvoiceItem.from_raw_data(raw)
    model.expires_at = EXPIRES
    serialized: dict[str, Any] = model.serialize()
    return serialized


@pytest.mark.parametrize("name", CASES)
def test_the_raw_summary_is_what_the_model_serializes(name: str) -> None:
    invoice = CASES[name]
    raw = items.summary_attributes(invoice, EXPIRES)
    assert raw == pynamodb_item(invoice)
    assert raw["expires_at"] == {"N": str(int(EXPIRES.timestamp()))}
    assert "version" not in raw  # put_versioned adds it, with its condition


@pytest.mark.parametrize("name", CASES)
def test_a_summary_reads_back_as_its_invoice(name: str) -> None:
    invoice = CASES[name]
    raw = items.summary_attributes(invoice, EXPIRES)
    if invoice.version is not None:
        raw["version"] = {"N": str(invoice.version)}
    back = items.from_summary(raw)
    assert back == replace(invoice, last_activity_at=invoice.updated_at, lines=back.lines)
    assert back.version == invoice.version
