"""Validation of a new invoice (chalicelib/sending/validation.py). Pure."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from chalicelib.core.model import Line
from chalicelib.errors import ValidationFailed
from chalicelib.sending.validation import (
    MAX_PDF_BYTES,
    MAX_RECIPIENTS,
    NewInvoice,
    NewRecipient,
    body_hash,
    parse_new_invoice,
)

pytestmark = pytest.mark.disable_socket

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def valid_body() -> dict[str, Any]:
    return {
        "number": "  INV-2026-0042 ",
        "customer": {"name": "Globex Corporation"},
        "recipients": [
            {"email": "Jane.Doe@Example.COM", "name": " Jane Doe "},
            {"email": "ap@globex.example"},
        ],
        "currency": "EUR",
        "total": "1234.50",
        "due_date": "2026-02-28",
        "issue_date": "2026-01-29",
        "lines": [
            {"description": "Design work", "quantity": "2", "unit_price": "500.00"},
            {"description": "Hosting", "quantity": 3, "unit_price": "78.1667"},
        ],
        "subject": "Your invoice",
        "message": "Thanks for your business.",
        "reply_to": "billing@acme.example",
        "pdf_base64": base64.b64encode(PDF).decode(),
        "metadata": {"order": "A-17", "crm_id": "991"},
        "locale": "es_MX",
        "tracking": False,
    }


def minimal_body() -> dict[str, Any]:
    return {
        "number": "1",
        "customer": {"name": "C"},
        "recipients": [{"email": "a@example.com"}],
        "currency": "USD",
        "total": "0",
        "due_date": "2026-01-01",
    }


def errors_of(body: Any) -> dict[str, str]:
    """field -> message of every error ``parse_new_invoice`` reports."""
    with pytest.raises(ValidationFailed) as caught:
        parse_new_invoice(body)
    details = caught.value.details
    assert isinstance(details, list)
    assert details
    for item in details:
        assert set(item) == {"field", "message"}
        assert item["message"]
    fields = [item["field"] for item in details]
    return dict(zip(fields, [item["message"] for item in details], strict=True))


def with_(**changes: Any) -> dict[str, Any]:
    body = valid_body()
    body.update(changes)
    return body


def without(field: str) -> dict[str, Any]:
    body = valid_body()
    del body[field]
    return body


# -- valid bodies -------------------------------------------------------------------------


def test_valid_full_body() -> None:
    new = parse_new_invoice(valid_body())
    assert isinstance(new, NewInvoice)
    assert new.number == "INV-2026-0042"
    assert new.customer_name == "Globex Corporation"
    assert new.recipients == (
        NewRecipient("Jane.Doe@example.com", "Jane Doe"),  # domain normalised, case kept
        NewRecipient("ap@globex.example", None),
    )
    assert new.currency == "EUR"
    assert new.total == "1234.50"
    assert new.due_date == "2026-02-28"
    assert new.issue_date == "2026-01-29"
    assert new.lines == (
        Line("Design work", "2", "500.00"),
        Line("Hosting", "3", "78.1667"),
    )
    assert new.subject == "Your invoice"
    assert new.message == "Thanks for your business."
    assert new.reply_to == "billing@acme.example"
    assert new.pdf == PDF
    assert new.metadata == {"order": "A-17", "crm_id": "991"}
    assert new.locale == "es-MX"
    assert new.tracking is False
    assert new.body_hash == body_hash(valid_body())


def test_minimal_body_has_defaults() -> None:
    new = parse_new_invoice(minimal_body())
    assert new.total == "0"
    assert (new.issue_date, new.subject, new.message, new.reply_to, new.pdf) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert new.lines == ()
    assert new.metadata == {}
    assert new.locale is None
    assert new.tracking is None


def test_integer_total_and_fifty_recipients_are_accepted() -> None:
    body = minimal_body()
    body["total"] = 120
    body["recipients"] = [{"email": f"r{i}@example.com"} for i in range(MAX_RECIPIENTS)]
    new = parse_new_invoice(body)
    assert new.total == "120"
    assert len(new.recipients) == MAX_RECIPIENTS


# -- one error at a time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "reported_as"),
    [
        ("number", "number"),
        ("customer", "customer.name"),
        ("recipients", "recipients"),
        ("currency", "currency"),
        ("total", "total"),
        ("due_date", "due_date"),
    ],
)
def test_missing_required_field_is_named(field: str, reported_as: str) -> None:
    errors = errors_of(without(field))
    assert list(errors) == [reported_as]


@pytest.mark.parametrize("customer", [{}, {"name": ""}, {"name": "   "}, {"name": 5}, "Globex"])
def test_customer_without_a_name_is_named(customer: Any) -> None:
    assert list(errors_of(with_(customer=customer))) == ["customer.name"]


@pytest.mark.parametrize("number", ["", "   ", 42, "x" * 65])
def test_bad_number(number: Any) -> None:
    assert list(errors_of(with_(number=number))) == ["number"]


@pytest.mark.parametrize(
    "address",
    [
        "not-an-email",
        "jane@",
        "@example.com",
        "jane doe@example.com",
        "jane@@example.com",
        "jane@example..com",
        "",
        "   ",
        42,
        None,
        ["jane@example.com"],
    ],
)
def test_invalid_recipient_address_is_named_with_its_index(address: Any) -> None:
    body = valid_body()
    body["recipients"][1] = {"email": address}
    assert list(errors_of(body)) == ["recipients[1].email"]


def test_recipient_without_email_and_with_unknown_field() -> None:
    body = valid_body()
    body["recipients"][0] = {"name": "Jane", "cc": "x@example.com"}
    assert set(errors_of(body)) == {"recipients[0].cc", "recipients[0].email"}


@pytest.mark.parametrize("item", ["jane@example.com", ["jane@example.com"], 7])
def test_recipient_that_is_not_an_object(item: Any) -> None:
    body = valid_body()
    body["recipients"][0] = item
    assert list(errors_of(body)) == ["recipients[0]"]


def test_recipient_name_too_long_or_not_text() -> None:
    body = valid_body()
    body["recipients"][0]["name"] = "x" * 201
    body["recipients"][1]["name"] = 12
    assert set(errors_of(body)) == {"recipients[0].name", "recipients[1].name"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("jane@example.com", "jane@example.com"),
        ("Jane@Example.com", "jane@example.com"),
        ("JANE@EXAMPLE.COM", "jane@example.com"),
        ("jane@example.com", " jane@EXAMPLE.com "),
    ],
)
def test_duplicate_recipients_case_insensitively(first: str, second: str) -> None:
    body = valid_body()
    body["recipients"] = [{"email": first}, {"email": "other@example.com"}, {"email": second}]
    errors = errors_of(body)
    assert list(errors) == ["recipients[2].email"]
    assert "duplicate" in errors["recipients[2].email"]


def test_fifty_one_recipients() -> None:
    body = with_(recipients=[{"email": f"r{i}@example.com"} for i in range(MAX_RECIPIENTS + 1)])
    errors = errors_of(body)
    assert list(errors) == ["recipients"]
    assert "50" in errors["recipients"]


@pytest.mark.parametrize("recipients", [[], {}, "jane@example.com", None])
def test_no_recipients(recipients: Any) -> None:
    assert list(errors_of(with_(recipients=recipients))) == ["recipients"]


@pytest.mark.parametrize(
    ("total", "message_part"),
    [
        ("abc", "decimal"),
        ("-5", "negative"),
        (-5, "negative"),
        ("-0.01", "negative"),
        (12.5, "decimal string"),
        (0.1, "decimal string"),
        (True, "decimal string"),
        (None, "required"),
        ("", "decimal"),
        ("1e3", "decimal"),
        ("1,000.00", "decimal"),
        ("12.34567", "decimal"),
        ("NaN", "decimal"),
        ("Infinity", "decimal"),
        ("0x10", "decimal"),
        ("1" * 16, "decimal"),
        (10**20, "decimal"),
        ({"amount": "1"}, "decimal string"),
    ],
)
def test_bad_total(total: Any, message_part: str) -> None:
    errors = errors_of(with_(total=total))
    assert list(errors) == ["total"]
    assert message_part in errors["total"]


@pytest.mark.parametrize(
    "total", ["\u0661\u0662\u0663", "\uff11\uff12\uff10.\uff15\uff10", "\u0967\u0966\u0966"]
)
def test_non_ascii_digits_in_total_are_refused(total: str) -> None:
    assert list(errors_of(with_(total=total))) == ["total"]


@pytest.mark.parametrize(
    "value",
    ["2026-13-01", "20261201", "2026-02-30", "2026-00-10", "01/12/2026", "2026-1-1", "", 20261201],
)
@pytest.mark.parametrize("field", ["due_date", "issue_date"])
def test_bad_dates(field: str, value: Any) -> None:
    errors = errors_of(with_(**{field: value}))
    assert list(errors) == [field]
    assert "YYYY-MM-DD" in errors[field]


def test_iso_week_date_is_refused() -> None:
    assert list(errors_of(with_(due_date="2026-W01-1"))) == ["due_date"]


@pytest.mark.parametrize("currency", ["EUX", "eur", "Eur", "", "EURO", 978, None, "€"])
def test_bad_currency(currency: Any) -> None:
    assert list(errors_of(with_(currency=currency))) == ["currency"]


@pytest.mark.parametrize("currency", ["EUR", "USD", "MXN", "JPY", "GBP"])
def test_known_currencies(currency: str) -> None:
    assert parse_new_invoice(with_(currency=currency)).currency == currency


def test_unknown_top_level_fields_are_named() -> None:
    errors = errors_of(with_(amount="12", Customer={"name": "x"}))
    assert set(errors) == {"amount", "Customer"}
    assert all("not a known field" in m for m in errors.values())


def test_metadata_with_more_than_twenty_pairs() -> None:
    parse_new_invoice(with_(metadata={f"k{i}": "v" for i in range(20)}))
    assert list(errors_of(with_(metadata={f"k{i}": "v" for i in range(21)}))) == ["metadata"]


@pytest.mark.parametrize(
    ("metadata", "fields"),
    [
        ({"order": 17}, ["metadata.order"]),
        ({"a": None, "b": True, "c": ["x"]}, ["metadata.a", "metadata.b", "metadata.c"]),
        ({"k" * 41: "v"}, ["metadata." + "k" * 41]),
        ({"long": "v" * 501}, ["metadata.long"]),
        (["order", "A-17"], ["metadata"]),
        ("order=A-17", ["metadata"]),
    ],
)
def test_bad_metadata(metadata: Any, fields: list[str]) -> None:
    assert list(errors_of(with_(metadata=metadata))) == fields


@pytest.mark.parametrize(
    "pdf",
    [
        "not base64!!",
        "JVBERi0xLjQ=\n",  # base64 of a PDF header, but with a newline
        "JVBERi0",  # bad padding
        42,
        base64.b64encode(b"hello, not a pdf").decode(),
        base64.b64encode(b"PDF-1.4 no percent").decode(),
    ],
)
def test_bad_pdf(pdf: Any) -> None:
    assert list(errors_of(with_(pdf_base64=pdf))) == ["pdf_base64"]


def test_pdf_up_to_seven_megabytes_is_accepted() -> None:
    pdf = b"%PDF-" + b"0" * (MAX_PDF_BYTES - 5)
    new = parse_new_invoice(with_(pdf_base64=base64.b64encode(pdf).decode()))
    assert new.pdf is not None
    assert len(new.pdf) == MAX_PDF_BYTES


@pytest.mark.parametrize("extra", [1, 3, 1024 * 1024])
def test_pdf_over_seven_megabytes_decoded_is_refused(extra: int) -> None:
    pdf = b"%PDF-" + b"0" * (MAX_PDF_BYTES - 5 + extra)
    errors = errors_of(with_(pdf_base64=base64.b64encode(pdf).decode()))
    assert list(errors) == ["pdf_base64"]
    assert "7 MB" in errors["pdf_base64"]


@pytest.mark.parametrize(
    ("locale", "expected"), [("en", "en"), ("es", "es"), ("es-MX", "es-MX"), ("en_GB", "en-GB")]
)
def test_good_locales(locale: str, expected: str) -> None:
    assert parse_new_invoice(with_(locale=locale)).locale == expected


@pytest.mark.parametrize(
    "locale", ["fr", "EN", "en-us", "english", "es-", "es-MXX", "", 5, "de-DE", "en-GB-x"]
)
def test_bad_locale(locale: Any) -> None:
    assert list(errors_of(with_(locale=locale))) == ["locale"]


@pytest.mark.parametrize("tracking", ["yes", "true", 1, 0, [], {}])
def test_tracking_must_be_boolean(tracking: Any) -> None:
    assert list(errors_of(with_(tracking=tracking))) == ["tracking"]


@pytest.mark.parametrize("tracking", [True, False])
def test_tracking_booleans(tracking: bool) -> None:
    assert parse_new_invoice(with_(tracking=tracking)).tracking is tracking


@pytest.mark.parametrize("reply_to", ["not an address", 5, "a@"])
def test_bad_reply_to(reply_to: Any) -> None:
    assert list(errors_of(with_(reply_to=reply_to))) == ["reply_to"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("subject", "x" * 201), ("subject", ""), ("message", "x" * 5001), ("message", 7)],
)
def test_bad_optional_texts(field: str, value: Any) -> None:
    assert list(errors_of(with_(**{field: value}))) == [field]


def test_bad_lines_are_named_with_their_index() -> None:
    body = with_(
        lines=[
            {"description": "ok", "quantity": "1", "unit_price": "2"},
            {"quantity": "-1", "unit_price": "abc"},
            "a line",
        ]
    )
    assert list(errors_of(body)) == [
        "lines[1].description",
        "lines[1].quantity",
        "lines[1].unit_price",
        "lines[2]",
    ]


@pytest.mark.parametrize("lines", ["one line", {"a": 1}, [{}] * 201])
def test_lines_must_be_a_list_of_at_most_200(lines: Any) -> None:
    assert list(errors_of(with_(lines=lines))) == ["lines"]


@pytest.mark.parametrize("body", [None, [], "invoice", 42, True])
def test_body_must_be_an_object(body: Any) -> None:
    assert list(errors_of(body)) == [""]


# -- every error at once ------------------------------------------------------------------


def test_several_errors_are_reported_together() -> None:
    body = {
        "number": "",
        "customer": {},
        "recipients": [{"email": "bad"}, {"email": "ok@example.com"}, {"email": "OK@example.com"}],
        "currency": "eur",
        "total": -1,
        "due_date": "2026-13-01",
        "issue_date": "20261201",
        "metadata": {"n": 1},
        "pdf_base64": "%%%",
        "locale": "fr",
        "tracking": "no",
        "colour": "blue",
    }
    errors = errors_of(body)
    assert set(errors) == {
        "colour",
        "number",
        "customer.name",
        "recipients[0].email",
        "recipients[2].email",
        "currency",
        "total",
        "due_date",
        "issue_date",
        "metadata.n",
        "pdf_base64",
        "locale",
        "tracking",
    }


def test_empty_object_names_every_required_field() -> None:
    assert set(errors_of({})) == {
        "number",
        "customer.name",
        "recipients",
        "currency",
        "total",
        "due_date",
    }


# -- body_hash ----------------------------------------------------------------------------


def _reordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_body_hash_ignores_key_order_at_every_level() -> None:
    body = valid_body()
    flipped = _reordered(body)
    assert list(flipped) != list(body)
    assert list(flipped["lines"][0]) != list(body["lines"][0])
    assert body_hash(flipped) == body_hash(body)
    assert parse_new_invoice(flipped).body_hash == parse_new_invoice(body).body_hash


def test_body_hash_changes_with_any_value_or_list_order() -> None:
    body = valid_body()
    changed_total = copy.deepcopy(body)
    changed_total["total"] = "1234.51"
    swapped = copy.deepcopy(body)
    swapped["recipients"].reverse()
    nested = copy.deepcopy(body)
    nested["metadata"]["order"] = "A-18"
    hashes = {body_hash(b) for b in (body, changed_total, swapped, nested)}
    assert len(hashes) == 4
    assert body_hash(body) == body_hash(copy.deepcopy(body))
