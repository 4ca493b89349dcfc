"""The reports API (``Authorization: Bearer <key>``): an invoice's evidence (JSON or
HTML), the account's events as CSV, and a reminder sent now. Each handler parses,
makes one use-case call, and responds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.container import authenticate, jobs
from chalicelib.http import json_errors, json_response, json_text
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.reports import evidence, export, service, views
else:  # loaded by the first request that needs them (chalicelib/lazy.py)
    evidence = lazy_module("chalicelib.reports.evidence")
    export = lazy_module("chalicelib.reports.export")
    service = lazy_module("chalicelib.reports.service")
    views = lazy_module("chalicelib.reports.views")
reports_api = Blueprint(__name__)
_NO_STORE = "no-store"


def _authorization() -> str | None:
    return reports_api.current_request.headers.get("authorization")


def _params() -> Mapping[str, str]:
    return reports_api.current_request.query_params or {}


@reports_api.route("/invoices/{invoice_id}/evidence", methods=["GET"])
@json_errors
def invoice_evidence(invoice_id: str) -> Response:
    output = _params().get("format", "json")
    account = authenticate(_authorization())
    views.check_evidence_format(output)
    if output == "json":
        body = export.invoice_evidence(jobs(), account, invoice_id, json_text)
        return json_response(body, headers={"Cache-Control": _NO_STORE})
    return Response(
        body=export.invoice_evidence(jobs(), account, invoice_id, evidence.render_evidence_html),
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": _NO_STORE,
            "Content-Security-Policy": views.EVIDENCE_CSP,
            "X-Content-Type-Options": "nosniff",
        },
    )


@reports_api.route("/exports/events.csv", methods=["GET"])
@json_errors
def export_events() -> Response:
    params = _params()
    account = authenticate(_authorization())
    page = export.export_events(
        jobs(),
        account,
        params.get("from"),
        params.get("to"),
        params.get("cursor"),
        params.get("limit"),
    )
    headers: dict[str, str | list[str]] = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="events.csv"',
        "Cache-Control": _NO_STORE,
    }
    link = views.next_link(page, params.get("limit"))
    if link:
        headers["Link"] = link
    return Response(body=views.csv_body(page), status_code=200, headers=headers)


@reports_api.route("/invoices/{invoice_id}/remind", methods=["POST"])
@json_errors
def remind(invoice_id: str) -> Response:
    reminded = service.remind_now(jobs(), authenticate(_authorization()), invoice_id)
    return json_response(views.reminder_response(reminded), 202)
