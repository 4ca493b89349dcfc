"""Public routes reached from the emails: the tracking pixel and the hosted invoice.
They need no API key; the unforgeable token in the path is the credential."""

from __future__ import annotations

import secrets

from chalice.app import Blueprint, Request, Response

from chalicelib import service
from chalicelib.container import context
from chalicelib.invoice_page import content_security_policy, hosted_page
from chalicelib.observability import logger
from chalicelib.tracking import PIXEL_GIF, PIXEL_HEADERS

public = Blueprint(__name__)
_NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"


def _fetch(request: Request, trigger: str | None = None) -> service.FetchRequest:
    context_data = request.context or {}
    return service.FetchRequest(
        user_agent=request.headers.get("user-agent"),
        source_ip=(context_data.get("identity") or {}).get("sourceIp"),
        method=request.method,
        request_id=context_data.get("requestId"),
        trigger=trigger,
    )


@public.route("/t/{token}", methods=["GET", "HEAD"])
def pixel(token: str) -> Response:
    """Always the GIF: for valid, forged and unknown tokens, and when storage fails."""
    request = public.current_request
    try:
        fetch = _fetch(request)
        service.record_pixel_open(
            context(), token, fetch.user_agent, fetch.source_ip, fetch.method, fetch.request_id
        )
    except Exception:
        logger.exception("pixel open not recorded")
    body = b"" if request.method == "HEAD" else PIXEL_GIF
    return Response(body=body, status_code=200, headers=dict(PIXEL_HEADERS))


@public.route("/v/{token}", methods=["GET"])
def hosted_invoice(token: str) -> Response:
    request = public.current_request
    hosted = service.view_invoice(context(), token, _fetch(request))
    if hosted is None:
        return _page_not_found()
    from chalicelib.compose import render_for  # lazy: templating

    invoice, recipient = hosted.invoice, hosted.recipient
    rendered = render_for(invoice, recipient, hosted.account, None, None, invoice.has_pdf)
    nonce = secrets.token_urlsafe(16)
    page = hosted_page(
        rendered.html,
        invoice.locale.split("-")[0],
        pdf_url=f"/v/{token}/pdf" if invoice.has_pdf else None,
        beacon_url=f"/v/{token}/seen" if invoice.tracking else None,
        nonce=nonce,
    )
    return Response(
        body=page,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": _NO_STORE,
            "Content-Security-Policy": content_security_policy(nonce),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


@public.route("/v/{token}/seen", methods=["POST"], content_types=["application/json", "text/plain"])
def hosted_invoice_seen(token: str) -> Response:
    """The page's beacon: it was displayed. Always 204, so it tells nothing."""
    request = public.current_request
    trigger = None
    try:
        body = request.json_body if request.raw_body else None
        if isinstance(body, dict) and body.get("trigger") in ("visible", "interaction"):
            trigger = str(body["trigger"])
    except Exception:  # a malformed beacon is still a display report
        trigger = None
    try:
        service.confirm_view(context(), token, _fetch(request, trigger or "beacon"))
    except Exception:
        logger.exception("view not recorded")
    return Response(body="", status_code=204, headers={"Cache-Control": _NO_STORE})


@public.route("/v/{token}/pdf", methods=["GET"])
def hosted_invoice_pdf(token: str) -> Response:
    found = service.hosted_pdf(context(), token)
    if found is None:
        return _page_not_found()
    invoice, pdf = found
    filename = "".join(c if c.isalnum() or c in "-_." else "-" for c in invoice.number)
    return Response(
        body=pdf,
        status_code=200,
        headers={
            "Content-Type": "application/pdf",
            "Content-Disposition": f'attachment; filename="{filename or "invoice"}.pdf"',
            "Cache-Control": _NO_STORE,
        },
    )


def _page_not_found() -> Response:
    return Response(
        body="<!doctype html><meta charset=utf-8><title>Not found</title>"
        "<p>This invoice link is not valid or has expired.</p>",
        status_code=404,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": _NO_STORE},
    )
