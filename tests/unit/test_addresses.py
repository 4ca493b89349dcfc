"""Addresses and display names at the edge (issue 15, finding 1 and 2): what SES cannot
deliver is refused with a 400 naming the field, internationalized domains go as IDNA,
and no display name can add a header or a second address to ``To``."""

from __future__ import annotations

import email
from email import policy
from email.headerregistry import AddressHeader
from typing import Any

import pytest

from chalicelib.core.addresses import display_name_problem, normalize_email
from chalicelib.core.model import Account, Invoice, Recipient
from chalicelib.errors import ValidationFailed
from chalicelib.render.mime import invoice_message, mailbox
from chalicelib.sending.validation import parse_new_invoice

pytestmark = pytest.mark.disable_socket

INJECTION = "Zoë <attacker@evil.example>, x"


def body(*recipients: dict[str, Any]) -> dict[str, Any]:
    return {
        "number": "INV-1",
        "customer": {"name": "Globex"},
        "recipients": list(recipients),
        "currency": "EUR",
        "total": "10.00",
        "due_date": "2026-02-28",
    }


def errors_of(value: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_new_invoice(value)
    return {e["field"]: e["message"] for e in caught.value.details}


def test_an_internationalized_domain_is_kept_in_its_idna_form() -> None:
    assert normalize_email("ana@bücher.example") == "ana@xn--bcher-kva.example"
    parsed = parse_new_invoice(body({"email": "ana@bücher.example", "name": "Ana"}))
    assert parsed.recipients[0].email == "ana@xn--bcher-kva.example"


def test_the_same_mailbox_in_both_spellings_is_a_duplicate() -> None:
    errors = errors_of(
        body({"email": "ana@bücher.example"}, {"email": "ana@xn--bcher-kva.example"})
    )
    assert errors == {"recipients[1].email": "duplicates an earlier recipient"}


@pytest.mark.parametrize("address", ["josé@customer.example", "用户@example.com"])
def test_a_non_ascii_local_part_is_refused_with_a_clear_reason(address: str) -> None:
    message = errors_of(body({"email": address}))["recipients[0].email"]
    assert "must be ASCII" in message
    assert "SES" in message


@pytest.mark.parametrize(
    "address", ["\ud800@example.com", "ana@exa\ud800mple.com", "a\r\nb@x.example"]
)
def test_lone_surrogates_and_line_breaks_in_addresses_are_refused(address: str) -> None:
    assert "recipients[0].email" in errors_of(body({"email": address}))


@pytest.mark.parametrize(
    "name",
    [
        INJECTION,
        "Ana\r\nBcc: attacker@evil.example",
        "Ana\nRuiz",
        "Ana\x00",
        "\ud800",
        "Ana\u2028Ruiz",
        "\u202eevil",
        'Ana "the boss"',
        "ana@globex.example",
        "Ruiz; Ana",
    ],
)
def test_display_names_that_could_add_a_header_or_an_address_are_refused(name: str) -> None:
    errors = errors_of(body({"email": "ana@globex.example", "name": name}))
    assert list(errors) == ["recipients[0].name"]
    assert display_name_problem(name) is not None


@pytest.mark.parametrize(
    "name", ["Globex S.L.", "Ana (Accounts)", "Zoë Ünal", "O'Brien & Co", "👩‍💻 Dev"]
)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert display_name_problem(name) is None
    assert parse_new_invoice(body({"email": "ana@globex.example", "name": name})).recipients


def to_header(raw: bytes) -> AddressHeader:
    message = email.message_from_bytes(raw, policy=policy.default)
    header = message["To"]
    assert isinstance(header, AddressHeader)
    return header


def test_the_to_header_holds_one_mailbox_whatever_the_name() -> None:
    # Even a name that bypassed validation (stored before it existed) stays one name.
    invoice = Invoice(
        id="inv_1",
        account_id="acme",
        number="INV-1",
        customer_name="Globex",
        currency="EUR",
        total="10.00",
        due_date="2026-02-28",
        created_at="2026-01-05T09:30:00.000Z",
        recipients=[Recipient(id="r1", email="zoe@xn--bcher-kva.example", name=INJECTION)],
    )
    account = Account(id="acme", name="Acme, Inc.", from_address="billing@acme.example")
    raw = invoice_message(invoice, invoice.recipients[0], account, None, None, None)
    [only] = to_header(raw).addresses
    assert only.addr_spec == "zoe@xn--bcher-kva.example"
    assert only.display_name == INJECTION
    assert b"attacker@evil.example>, x <" not in raw
    sender = email.message_from_bytes(raw, policy=policy.default)["From"]
    assert [a.addr_spec for a in sender.addresses] == ["billing@acme.example"]


def test_a_line_break_in_a_name_never_reaches_the_message() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        str(mailbox("Ana\r\nBcc: x@evil.example", "ana@globex.example"))
