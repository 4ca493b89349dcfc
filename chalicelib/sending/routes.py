"""The invoices API (``Authorization: Bearer <key>``): send an invoice, list and read
invoices, send again to recipients that failed. Sends are queued (202), not made here.
Each handler parses, makes one use-case call, and responds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.container import authenticate, context
from chalicelib.http import error_of, json_errors, json_response, read_json
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.sending import batch, payments, queries, service, views
else:  # loaded by the first request that needs them (chalicelib/lazy.py)
    batch = lazy_module("chalicelib.sending.batch")
    payments = lazy_module("chalicelib.sending.payments")
    queries = lazy_module("chalicelib.sending.queries")
    service = lazy_module("chalicelib.sending.service")
    views = lazy_module("chalicelib.sending.views")
invoices_api = Blueprint(__name__)


def _authorization() -> str | None:
    return invoices_api.current_request.headers.get("authorization")


MAX_SMALL_BODY = 64_000  # a payment, a void, up to 50 new recipients


@invoices_api.route("/health", methods=["GET"])
def health() -> Response:
    return json_response({"ok": True})


@invoices_api.route("/invoices", methods=["POST"], content_types=["application/json"])
@json_errors
def create_invoice() -> Response:
    request = invoices_api.current_request
    account = authenticate(_authorization())
    body = read_json(request, context().settings.max_body_bytes)
    result = service.send_invoice(context(), account, body, request.headers.get("idempotency-key"))
    headers = {"Location": f"/invoices/{result.invoice.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    # 202: stored, and its sends queued (the sender function mails each recipient).
    return json_response(views.send_response(result.invoice), 202, headers)


@invoices_api.route("/invoices/batch", methods=["POST"], content_types=["application/json"])
@json_errors
def create_invoices() -> Response:
    """207 always: each item carries its own status (202 and the invoice, or the error
    a single POST /invoices would answer)."""
    account = authenticate(_authorization())
    body = read_json(invoices_api.current_request, context().settings.max_body_bytes)
    items = []
    for index, outcome in enumerate(batch.send_batch(context(), account, body)):
        if outcome.result is not None:
            answer = views.send_response(outcome.result.invoice)
            replayed = outcome.result.replayed
            items.append({"index": index, "status": 202, "replayed": replayed, "invoice": answer})
        elif outcome.error is not None:
            status, error = error_of(outcome.error)
            items.append({"index": index, "status": status, **error})
    return json_response({"items": items}, 207)


@invoices_api.route("/invoices", methods=["GET"])
@json_errors
def list_invoices() -> Response:
    params: Mapping[str, str] = invoices_api.current_request.query_params or {}
    account = authenticate(_authorization())
    items, cursor = queries.find_invoices(context(), account, params)
    return json_response({"items": [views.list_item(i) for i in items], "next": cursor})


@invoices_api.route("/invoices/{invoice_id}", methods=["GET"])
@json_errors
def get_invoice(invoice_id: str) -> Response:
    account = authenticate(_authorization())
    invoice = queries.get_invoice(context(), account, invoice_id)
    return json_response(views.invoice_detail(invoice))


@invoices_api.route("/invoices/{invoice_id}/events", methods=["GET"])
@json_errors
def get_events(invoice_id: str) -> Response:
    params: Mapping[str, str] = invoices_api.current_request.query_params or {}
    account = authenticate(_authorization())
    _, page = queries.get_events(
        context(), account, invoice_id, params.get("limit"), params.get("cursor")
    )
    return json_response({"items": views.timeline(page.events), "next": page.cursor})


@invoices_api.route("/invoices/{invoice_id}/send", methods=["POST"])
@json_errors
def resend(invoice_id: str) -> Response:
    result = service.retry_failed(context(), authenticate(_authorization()), invoice_id)
    return json_response(views.send_response(result.invoice), 202)


@invoices_api.route("/invoices/{invoice_id}/paid", methods=["POST"])
@json_errors
def mark_paid(invoice_id: str) -> Response:
    account = authenticate(_authorization())
    body = read_json(invoices_api.current_request, MAX_SMALL_BODY)
    return json_response(views.invoice_detail(payments.pay(context(), account, invoice_id, body)))


@invoices_api.route("/invoices/{invoice_id}/void", methods=["POST"])
@json_errors
def mark_void(invoice_id: str) -> Response:
    account = authenticate(_authorization())
    body = read_json(invoices_api.current_request, MAX_SMALL_BODY)
    return json_response(views.invoice_detail(payments.void(context(), account, invoice_id, body)))


@invoices_api.route("/invoices/{invoice_id}/recipients", methods=["POST"])
@json_errors
def add_recipients(invoice_id: str) -> Response:
    account = authenticate(_authorization())
    body = read_json(invoices_api.current_request, MAX_SMALL_BODY)
    result = service.add_recipients(context(), account, invoice_id, body)
    body = views.added_response(result.invoice, result.added)
    return json_response(body, 202)
