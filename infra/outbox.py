"""The outbox: a web page of every message the local stack sent, each shown as a mail
client shows it. Development only, a separate process; never part of the app.

    python -m infra.outbox --port 8025 [--topic-arn <arn>]

Mail is read from the AWS emulator (``tools.local_mail``); invoice numbers and statuses
from Sobre's table. Opening a message renders its HTML part in an iframe with its
images loaded, so the browser fetches the tracking pixel exactly as a customer's mail
client would: opening a message in the outbox is an open, which the app judges as it
judges any other (one within seconds of the delivery looks like a security scanner).

The same server is the local SES-events topic's HTTP subscriber (``POST /sns``), which
hands every notification to the app's ``ses_events`` handler (``infra/sns_bridge.py``).

    GET  /                                   the messages, newest first
    GET  /messages.json                      the same, as JSON
    GET  /messages/<id>                      one message
    GET  /messages/<id>/html                 its HTML part (loads images, never scripts)
    GET  /messages/<id>/text                 its plain-text part
    GET  /messages/<id>.eml                  its raw MIME
    GET  /messages/<id>/attachments/<n>      its n-th attachment (from 1)
    POST /sns                                SNS HTTP deliveries
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader

from chalicelib.settings import Settings
from infra.sns_bridge import SnsBridge, app_invoker, sns_confirmer, subscribe
from infra.sqs_bridge import FUNCTION_NAME as SQS_FUNCTION
from infra.sqs_bridge import SqsPoller
from tools.local_mail import LocalMessage, SobreLookup, messages

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True
)
MESSAGE_PATH = re.compile(
    r"^/messages/(?P<id>[A-Za-z0-9-]+)(?:(?P<eml>\.eml)|/(?P<part>html|text)"
    r"|/attachments/(?P<n>[1-9][0-9]{0,3}))?$"
)
# Outbox pages: no scripts, nothing from elsewhere.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src 'self'"
# A message's HTML part: what a mail client allows (inline styles, remote images), no
# scripts, and sandboxed even when opened on its own.
MAIL_CSP = (
    "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; "
    "font-src http: https: data:; sandbox allow-popups allow-popups-to-escape-sandbox"
)


@dataclass(frozen=True)
class Row:
    """A message and what Sobre recorded about it (when Sobre sent it)."""

    message: LocalMessage
    sent_at: str | None = None
    invoice_id: str | None = None
    invoice_number: str | None = None
    invoice_status: str | None = None
    recipient_id: str | None = None
    recipient_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.message.message_id,
            "from": self.message.header("From") or self.message.source,
            "to": list(self.message.destinations),
            "subject": self.message.subject,
            "sent_at": self.sent_at,
            "invoice_id": self.invoice_id,
            "invoice_number": self.invoice_number,
            "invoice_status": self.invoice_status,
            "recipient_id": self.recipient_id,
            "recipient_status": self.recipient_status,
            "attachments": [a.filename for a in self.message.attachments()],
        }


class Outbox:
    def __init__(self, endpoint: str, lookup: SobreLookup | None) -> None:
        self._endpoint = endpoint
        self._lookup = lookup

    def rows(self) -> list[Row]:
        return [self._row(m) for m in reversed(messages(self._endpoint))]

    def row(self, message_id: str) -> Row | None:
        found = next((m for m in messages(self._endpoint) if m.message_id == message_id), None)
        return None if found is None else self._row(found)

    def _row(self, message: LocalMessage) -> Row:
        date = message.header("Date")
        if self._lookup is None:
            return Row(message, sent_at=date)
        try:
            ref = self._lookup.ref(message.message_id)
            invoice = self._lookup.invoice(ref.invoice_id) if ref else None
        except Exception as exc:  # the page still lists the mail
            print(f"outbox: no invoice data for {message.message_id}: {exc!r}", file=sys.stderr)
            return Row(message, sent_at=date)
        if ref is None or invoice is None:
            return Row(message, sent_at=date)
        recipient = invoice.recipient(ref.recipient_id)
        return Row(
            message,
            sent_at=(recipient.sent_at if recipient else None) or date,
            invoice_id=invoice.id,
            invoice_number=invoice.number,
            invoice_status=invoice.status,
            recipient_id=ref.recipient_id,
            recipient_status=recipient.status if recipient else None,
        )


class Handler(BaseHTTPRequestHandler):
    outbox: Outbox
    bridge: SnsBridge | None = None
    server_version = "SobreOutbox"

    def log_message(self, format: str, *args: Any) -> None:
        print(f"outbox: {self.command} {self.path} {args[1] if len(args) > 1 else ''}", flush=True)

    def do_POST(self) -> None:
        if self.path != "/sns" or self.bridge is None:
            self._send(404, b"Not found\n", "text/plain; charset=utf-8")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(self.bridge.receive(body, headers), b"", "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if path == "/health":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/favicon.ico":
                self._send(204, b"", "image/x-icon")
            elif path == "/":
                self._page("outbox_list.html", rows=self.outbox.rows())
            elif path == "/messages.json":
                rows = [row.to_json() for row in self.outbox.rows()]
                self._send(200, json.dumps(rows).encode(), "application/json")
            elif found := MESSAGE_PATH.match(path):
                self._message(found)
            else:
                self._send(404, b"Not found\n", "text/plain; charset=utf-8")
        except OSError as exc:  # the emulator is gone or not answering
            text = f"The AWS emulator did not answer: {exc}\n".encode()
            self._send(502, text, "text/plain; charset=utf-8")

    def _message(self, found: re.Match[str]) -> None:
        row = self.outbox.row(found["id"])
        if row is None:
            self._send(404, b"No such message\n", "text/plain; charset=utf-8")
            return
        message = row.message
        if found["eml"]:
            disposition = f'attachment; filename="{message.message_id}.eml"'
            self._send(200, message.raw.encode(), "message/rfc822", disposition)
        elif found["part"] == "html":
            html = message.html()
            if html is None:
                self._send(404, b"No HTML part\n", "text/plain; charset=utf-8")
                return
            self._send(200, html.encode(), "text/html; charset=utf-8", csp=MAIL_CSP)
        elif found["part"] == "text":
            text = message.text()
            if text is None:
                self._send(404, b"No plain-text part\n", "text/plain; charset=utf-8")
                return
            self._send(200, text.encode(), "text/plain; charset=utf-8")
        elif found["n"]:
            attachments = message.attachments()
            index = int(found["n"]) - 1
            if index >= len(attachments):
                self._send(404, b"No such attachment\n", "text/plain; charset=utf-8")
                return
            attachment = attachments[index]
            disposition = f"attachment; filename*=UTF-8''{quote(attachment.filename)}"
            self._send(200, attachment.data, attachment.content_type, disposition)
        else:
            text = message.text()
            self._page(
                "outbox_message.html",
                row=row,
                attachments=message.attachments(),
                has_html=message.html() is not None,
                has_text=text is not None,
                text=text or "",
            )

    def _page(self, template: str, **values: Any) -> None:
        html = TEMPLATES.get_template(template).render(**values)
        self._send(200, html.encode(), "text/html; charset=utf-8", csp=PAGE_CSP)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        disposition: str | None = None,
        csp: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if disposition:
            self.send_header("Content-Disposition", disposition)
        if csp:
            self.send_header("Content-Security-Policy", csp)
        self.end_headers()
        self.wfile.write(body)


def make_server(
    port: int, outbox: Outbox, bridge: SnsBridge | None, host: str = "127.0.0.1"
) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"outbox": outbox, "bridge": bridge})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.outbox", description=__doc__)
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SOBRE_OUTBOX_PORT", "8025"))
    )
    parser.add_argument("--topic-arn", default=os.environ.get("SOBRE_EVENTS_TOPIC_ARN"))
    args = parser.parse_args(argv)
    settings = Settings.from_env(os.environ)
    if not settings.aws_endpoint_url:
        print("AWS_ENDPOINT_URL is not set: source .sobre/local.env first", file=sys.stderr)
        return 2
    bridge = None
    if args.topic_arn:
        bridge = SnsBridge(app_invoker(), sns_confirmer(settings.aws_region))
    server = make_server(
        args.port, Outbox(settings.aws_endpoint_url, SobreLookup(settings)), bridge
    )
    if settings.fetch_queue_url:
        SqsPoller(app_invoker(SQS_FUNCTION), settings.fetch_queue_url, settings.aws_region).start()
        print(f"Draining {settings.fetch_queue_url} into {SQS_FUNCTION}", flush=True)
    if bridge is not None:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/sns"
        bridge.subscription_arn = subscribe(args.topic_arn, endpoint, settings.aws_region)
        print(f"Subscribed {endpoint} to {args.topic_arn}", flush=True)
    print(f"Outbox on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C on `make run` reaches every child
        sys.exit(0)
