"""``make demo``: a few realistic invoices sent through the public HTTP API of the
running local stack (``make run``), to look at in the outbox. Development only.

    . .sobre/local.env && python -m infra.demo

Several customers, several recipients each, one recipient that bounces and one that
complains (SES's mailbox simulator, emulated locally). Each invoice has an
Idempotency-Key, so running the demo twice sends nothing new.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import date, timedelta
from typing import Any

BOUNCE = "bounce@simulator.amazonses.com"
COMPLAINT = "complaint@simulator.amazonses.com"


def minimal_pdf(title: str, lines: list[str]) -> bytes:
    """A small valid one-page PDF (for the outbox's attachment list)."""
    text = [f"BT /F1 18 Tf 72 760 Td ({_pdf_text(title)}) Tj ET"]
    text += [
        f"BT /F1 11 Tf 72 {720 - 16 * i} Td ({_pdf_text(line)}) Tj ET"
        for i, line in enumerate(lines)
    ]
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def invoices(today: date) -> list[dict[str, Any]]:
    def due(days: int) -> str:
        return (today + timedelta(days=days)).isoformat()

    return [
        {
            "number": "DEMO-1001",
            "customer": {"name": "Globex S.L."},
            "recipients": [
                {"email": "ana.garcia@globex.example", "name": "Ana García"},
                {"email": "cuentas@globex.example", "name": "Cuentas a pagar"},
            ],
            "currency": "EUR",
            "total": "1210.00",
            "issue_date": today.isoformat(),
            "due_date": due(30),
            "lines": [
                {
                    "description": "Consultoría (noviembre)",
                    "quantity": "10",
                    "unit_price": "100.00",
                },
                {"description": "Soporte mensual", "quantity": "1", "unit_price": "210.00"},
            ],
            "message": "Gracias por confiar en nosotros.",
            "locale": "es-ES",
            "metadata": {"order": "PO-7781"},
        },
        {
            "number": "DEMO-1002",
            "customer": {"name": "Initech LLC"},
            "recipients": [
                {"email": "bill.lumbergh@initech.example", "name": "Bill Lumbergh"},
                {"email": BOUNCE, "name": "Old billing mailbox"},
            ],
            "currency": "USD",
            "total": "4800.00",
            "issue_date": today.isoformat(),
            "due_date": due(15),
            "lines": [
                {"description": "TPS report automation", "quantity": "32", "unit_price": "150.00"}
            ],
            "subject": "Invoice DEMO-1002 from Demo",
        },
        {
            "number": "DEMO-1003",
            "customer": {"name": "Umbrella Corporation"},
            "recipients": [
                {"email": "procurement@umbrella.example", "name": "Procurement"},
                {"email": COMPLAINT, "name": "A. Wesker"},
                {"email": "ooto@simulator.amazonses.com", "name": "Out of office"},
            ],
            "currency": "GBP",
            "total": "980.50",
            "issue_date": today.isoformat(),
            "due_date": due(45),
            "lines": [
                {"description": "Lab equipment rental", "quantity": "1", "unit_price": "900.00"},
                {"description": "Delivery", "quantity": "1", "unit_price": "80.50"},
            ],
            "pdf_base64": base64.b64encode(
                minimal_pdf("Invoice DEMO-1003", ["Umbrella Corporation", "Total: GBP 980.50"])
            ).decode(),
        },
        {
            "number": "DEMO-1004",
            "customer": {"name": "Hooli"},
            "recipients": [{"email": "gavin@hooli.example", "name": "Gavin Belson"}],
            "currency": "USD",
            "total": "99.00",
            "due_date": due(7),
            "lines": [
                {
                    "description": "Compression API, starter plan",
                    "quantity": "1",
                    "unit_price": "99.00",
                }
            ],
            "message": "Thank you for your business.",
        },
    ]


def post(api_url: str, api_key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (the local stack's URL)
        f"{api_url}/invoices",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"demo-{body['number']}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def main() -> int:
    api_url = os.environ.get("SOBRE_API_URL")
    api_key = os.environ.get("SOBRE_API_KEY")
    if not api_url or not api_key:
        print("Start the stack (make run) and source .sobre/local.env first.", file=sys.stderr)
        return 2
    failed = False
    for body in invoices(date.today()):
        try:
            status, answer = post(api_url, api_key, body)
        except OSError as exc:
            print(f"The API at {api_url} did not answer ({exc}): is `make run` running?")
            return 1
        if status != 202:  # stored, its sends queued
            failed = True
            print(f"{body['number']}: HTTP {status} {json.dumps(answer)}")
            continue
        print(f"{answer['number']}  {answer['id']}  {body['customer']['name']}")
        for recipient in answer["recipients"]:
            print(f"    {recipient['status']:<8} {recipient['email']}")
    outbox = os.environ.get("SOBRE_OUTBOX_URL", "the outbox")
    print(
        f"\nOpen {outbox}/ to read them (opening one loads its tracking pixel); follow them with\n"
        f'  curl -s -H "Authorization: Bearer $SOBRE_API_KEY" "$SOBRE_API_URL/invoices"'
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
