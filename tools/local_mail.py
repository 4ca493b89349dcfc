"""Mail that the local stack "sent": read from the AWS emulator's own store (moto keeps
every message SES accepted). Development only; never deployed.

    python -m tools.local_mail list
    python -m tools.local_mail pixel-url ana@globex.example

The outbox (``infra/outbox.py``) and the SES event emulator (``infra/ses_emulator.py``)
read mail through this module too.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import parseaddr
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from chalicelib.adapters.dynamo import invoices as dynamo_invoices
from chalicelib.adapters.dynamo import models
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.core.model import Invoice, MessageRef

PIXEL = re.compile(r'<img[^>]+src="([^"]+/t/[A-Za-z0-9_-]+\.gif)"')
VIEW = re.compile(r'<a[^>]+href="([^"]+/v/[A-Za-z0-9_-]+)"')
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_HTML = re.compile(r"<[A-Za-z][^>]*>")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class LocalMessage:
    """One message as SES (moto) accepted it."""

    message_id: str
    source: str
    destinations: tuple[str, ...]
    raw: str

    @property
    def to(self) -> str:
        return self.destinations[0] if self.destinations else ""

    @cached_property
    def parsed(self) -> EmailMessage:
        """The message with decoded headers (``str(parsed["Subject"])`` is readable)."""
        return email.message_from_string(self.raw, policy=email.policy.default)

    @cached_property
    def raw_headers(self) -> tuple[tuple[str, str], ...]:
        """The top-level headers in order, unfolded but not decoded (as SES reports them)."""
        legacy: Message = email.message_from_string(self.raw)
        return tuple((name, _FOLD.sub("", str(value))) for name, value in legacy.items())

    def header(self, name: str) -> str | None:
        value = self.parsed[name]
        return None if value is None else str(value)

    @property
    def subject(self) -> str:
        return self.header("Subject") or ""

    def _body(self, subtype: str) -> str | None:
        part = self.parsed.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_type() != f"text/{subtype}":
            return None
        return str(cast(EmailMessage, part).get_content())

    def html(self) -> str | None:
        return self._body("html")

    def text(self) -> str | None:
        return self._body("plain")

    def attachments(self) -> list[Attachment]:
        found: list[Attachment] = []
        for part in self.parsed.iter_attachments():
            payload = part.get_payload(decode=True)
            found.append(
                Attachment(
                    filename=part.get_filename() or f"attachment-{len(found) + 1}",
                    content_type=part.get_content_type(),
                    data=payload if isinstance(payload, bytes) else b"",
                )
            )
        return found

    def pixel_url(self) -> str | None:
        found = PIXEL.search(self.html() or "")
        return found.group(1).replace("&amp;", "&") if found else None

    def view_url(self) -> str | None:
        """The "View invoice" link (its token is not the pixel's)."""
        found = VIEW.search(self.html() or "")
        return found.group(1).replace("&amp;", "&") if found else None


def _unique_addresses(values: list[str]) -> tuple[str, ...]:
    # moto lists the API's destinations, then again every To/Cc/Bcc of the headers
    # ("Ana <ana@globex.example>"): one bare address each, in order.
    seen: dict[str, str] = {}
    for value in values:
        address = parseaddr(value)[1]
        if address and address.lower() not in seen:
            seen[address.lower()] = address
    return tuple(seen.values())


def from_moto(record: dict[str, Any]) -> LocalMessage:
    """A message from one ``ses.RawMessage`` record of moto's ``/moto-api/data.json``."""
    return LocalMessage(
        message_id=str(record["id"]),
        source=str(record.get("source") or ""),
        destinations=_unique_addresses([str(d) for d in record.get("destinations") or []]),
        raw=str(record["raw_data"]),
    )


def from_moto_simple(record: dict[str, Any]) -> LocalMessage:
    """A message from one ``ses.Message`` record (a ``Simple`` send, which moto keeps as
    subject and body only), as the MIME message SES would have built."""
    destinations: dict[str, list[str]] = record.get("destinations") or {}
    built = EmailMessage()
    built["From"] = str(record.get("source") or "")
    for header, key in (("To", "ToAddresses"), ("Cc", "CcAddresses")):
        if destinations.get(key):
            built[header] = ", ".join(destinations[key])
    built["Subject"] = str(record.get("subject") or "")
    body = str(record.get("body") or "")
    built.set_content(body, subtype="html" if _HTML.search(body) else "plain")
    return LocalMessage(
        message_id=str(record["id"]),
        source=str(record.get("source") or ""),
        destinations=_unique_addresses([a for values in destinations.values() for a in values]),
        raw=built.as_string(),
    )


def messages(endpoint: str, timeout: float = 10, after: int = 0) -> list[LocalMessage]:
    """Every message moto accepted after the first ``after``. From the local stack's
    emulator (infra/aws_emulator.py): in the order SES accepted them, only those asked
    for. From a plain moto server, its whole state read: raw ones (what Sobre sends)
    oldest first, then ``Simple`` ones oldest first (moto keeps them apart, no time)."""
    base = endpoint.rstrip("/")
    try:
        url = f"{base}/_sobre/ses/messages?after={after}"
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            records = json.load(response)["messages"]
        return [from_moto(r) if r["kind"] == "RawMessage" else from_moto_simple(r) for r in records]
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
    with urllib.request.urlopen(f"{base}/moto-api/data.json", timeout=timeout) as response:  # noqa: S310
        ses = json.load(response).get("ses", {})
    every = [from_moto(m) for m in ses.get("RawMessage", [])] + [
        from_moto_simple(m) for m in ses.get("Message", [])
    ]
    return every[after:]


class SobreLookup:
    """What Sobre itself recorded about a message: the ``MSG#<message id>`` reference
    the app writes when it sends (account, invoice, recipient) and the invoice, read
    with the app's own DynamoDB adapter from the emulator's table."""

    def __init__(self, settings: Settings) -> None:

        models.configure(settings.table_name, settings.aws_region)
        self._store = dynamo_invoices.DynamoInvoiceStore(settings.retention_days)
        self._refs: dict[str, MessageRef] = {}

    def ref(self, message_id: str) -> MessageRef | None:
        """The reference, or None while the app has not written it (or never will)."""
        if message_id not in self._refs:
            found = self._store.get_message_ref(message_id)
            if found is None:
                return None
            self._refs[message_id] = found  # references never change
        return self._refs[message_id]

    def invoice(self, invoice_id: str) -> Invoice | None:
        return self._store.get(invoice_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_mail", description=__doc__)
    parser.add_argument("command", choices=["list", "pixel-url"])
    parser.add_argument("address", nargs="?")
    args = parser.parse_args(argv)
    endpoint = get_settings().aws_endpoint_url
    if not endpoint:
        print("AWS_ENDPOINT_URL is not set: source .sobre/local.env first", file=sys.stderr)
        return 2
    found = messages(endpoint)
    if args.command == "list":
        for message in found:
            print(f"{message.message_id}  {message.to}  {message.subject}")
        return 0
    mine = [m for m in found if m.to.lower() == (args.address or "").lower()]
    if not mine or mine[-1].pixel_url() is None:
        print(f"no tracked message to {args.address}", file=sys.stderr)
        return 1
    print(mine[-1].pixel_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
