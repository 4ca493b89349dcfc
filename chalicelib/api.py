"""The JSON API (``Authorization: Bearer <key>``). Each handler parses, makes one domain
call, and responds."""

from __future__ import annotations

from collections.abc import Mapping

from chalice.app import Blueprint, Response

from chalicelib import service, views
from chalicelib.container import context
from chalicelib.http import json_errors, json_response, read_json
from chalicelib.ports import Account

api = Blueprint(__name__)


def _account() -> Account:
    return service.authenticate(context(), api.current_request.headers.get("authorization"))


@api.route("/health", methods=["GET"])
def health() -> Response:
    return json_response({"ok": True})


@api.route("/invoices", methods=["POST"], content_types=["application/json"])
@json_errors
def create_invoice() -> Response:
    request = api.current_request
    account = _account()
    body = read_json(request, context().settings.max_body_bytes)
    result = service.send_invoice(context(), account, body, request.headers.get("idempotency-key"))
    headers = {"Location": f"/invoices/{result.invoice.id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(views.send_response(result.invoice), 201, headers)


@api.route("/invoices", methods=["GET"])
@json_errors
def list_invoices() -> Response:
    params: Mapping[str, str] = api.current_request.query_params or {}
    account = _account()
    items, cursor = service.list_invoices(
        context(), account, params.get("status") or None, params.get("limit"), params.get("cursor")
    )
    return json_response({"items": [views.invoice_summary(i) for i in items], "next": cursor})


@api.route("/invoices/{invoice_id}", methods=["GET"])
@json_errors
def get_invoice(invoice_id: str) -> Response:
    invoice, timeline = service.get_invoice_with_timeline(context(), _account(), invoice_id)
    return json_response(views.invoice_detail(invoice, timeline))


@api.route("/invoices/{invoice_id}/events", methods=["GET"])
@json_errors
def get_events(invoice_id: str) -> Response:
    _, timeline = service.get_invoice_with_timeline(context(), _account(), invoice_id)
    return json_response({"items": views.timeline(timeline)})


@api.route("/invoices/{invoice_id}/send", methods=["POST"])
@json_errors
def resend(invoice_id: str) -> Response:
    invoice = service.retry_failed(context(), _account(), invoice_id)
    return json_response(views.send_response(invoice))
