"""Routes of reports, reminders, alerts and evidence (``Authorization: Bearer <key>``):
webhooks and their deliveries, an invoice's evidence, the events export, and a
reminder sent now. Each handler parses, makes one ``report_service`` call and responds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from urllib.parse import urlencode

from chalice.app import Blueprint, Response

from chalicelib import service
from chalicelib.container import context
from chalicelib.http import json_errors, json_response
from chalicelib.ports import Account

reports_api = Blueprint(__name__)
_NO_STORE = "no-store"
_HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _account() -> Account:
    return service.authenticate(context(), reports_api.current_request.headers.get("authorization"))


def _params() -> Mapping[str, str]:
    return reports_api.current_request.query_params or {}


@reports_api.route("/webhooks", methods=["POST"], content_types=["application/json"])
@json_errors
def create_webhook() -> Response:
    from chalicelib import report_service
    from chalicelib.alerts import webhook_view
    from chalicelib.http import read_json

    account = _account()
    body = read_json(reports_api.current_request, 100_000)
    webhook = report_service.create_webhook(report_service.production_jobs(), account, body)
    return json_response(
        webhook_view(webhook, secret=True), 201, {"Location": f"/webhooks/{webhook.id}"}
    )


@reports_api.route("/webhooks", methods=["GET"])
@json_errors
def list_webhooks() -> Response:
    from chalicelib import report_service
    from chalicelib.alerts import webhook_view

    account = _account()
    found = report_service.list_webhooks(report_service.production_jobs(), account)
    return json_response({"items": [webhook_view(w) for w in found]})


@reports_api.route("/webhooks/{webhook_id}", methods=["GET"])
@json_errors
def get_webhook(webhook_id: str) -> Response:
    from chalicelib import report_service
    from chalicelib.alerts import webhook_view

    account = _account()
    webhook = report_service.get_webhook(report_service.production_jobs(), account, webhook_id)
    return json_response(webhook_view(webhook))


@reports_api.route("/webhooks/{webhook_id}", methods=["DELETE"])
@json_errors
def delete_webhook(webhook_id: str) -> Response:
    from chalicelib import report_service

    account = _account()
    report_service.delete_webhook(report_service.production_jobs(), account, webhook_id)
    return Response(body="", status_code=204, headers={})


@reports_api.route("/webhooks/{webhook_id}/enable", methods=["POST"])
@json_errors
def enable_webhook(webhook_id: str) -> Response:
    from chalicelib import report_service
    from chalicelib.alerts import webhook_view

    account = _account()
    webhook, queued = report_service.enable_webhook(
        report_service.production_jobs(), account, webhook_id
    )
    return json_response({"webhook": webhook_view(webhook), "requeued": queued})


@reports_api.route("/webhooks/{webhook_id}/deliveries", methods=["GET"])
@json_errors
def list_deliveries(webhook_id: str) -> Response:
    from chalicelib import report_service
    from chalicelib.alerts import delivery_view

    params = _params()
    account = _account()
    items, cursor = report_service.list_deliveries(
        report_service.production_jobs(),
        account,
        webhook_id,
        params.get("limit"),
        params.get("cursor"),
    )
    return json_response({"items": [delivery_view(d) for d in items], "next": cursor})


@reports_api.route("/invoices/{invoice_id}/evidence", methods=["GET"])
@json_errors
def invoice_evidence(invoice_id: str) -> Response:
    from chalicelib import report_service
    from chalicelib.errors import ValidationFailed

    output = _params().get("format", "json")
    account = _account()
    if output not in ("json", "html"):
        raise ValidationFailed("Bad query.", [{"field": "format", "message": "json or html"}])
    report = report_service.invoice_evidence(report_service.production_jobs(), account, invoice_id)
    if output == "json":
        return json_response(report, headers={"Cache-Control": _NO_STORE})
    from chalicelib.evidence import render_evidence_html

    return Response(
        body=render_evidence_html(report),
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": _NO_STORE,
            "Content-Security-Policy": _HTML_CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@reports_api.route("/exports/events.csv", methods=["GET"])
@json_errors
def export_events() -> Response:
    from chalicelib import report_service
    from chalicelib.evidence import CSV_COLUMNS

    params = _params()
    account = _account()
    page = report_service.export_events(
        report_service.production_jobs(),
        account,
        params.get("from"),
        params.get("to"),
        params.get("cursor"),
        params.get("limit"),
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(page.rows)
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="events.csv"',
        "Cache-Control": _NO_STORE,
    }
    if page.cursor:
        query = {"from": page.start, "to": page.end, "cursor": page.cursor}
        if params.get("limit"):
            query["limit"] = params["limit"]
        headers["Link"] = f'</exports/events.csv?{urlencode(query)}>; rel="next"'
    return Response(body=buffer.getvalue(), status_code=200, headers=headers)


@reports_api.route("/invoices/{invoice_id}/remind", methods=["POST"])
@json_errors
def remind(invoice_id: str) -> Response:
    from chalicelib import report_service

    account = _account()
    invoice = report_service.remind_now(report_service.production_jobs(), account, invoice_id)
    return json_response(report_service.reminder_response(invoice))
