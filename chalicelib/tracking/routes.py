"""Public routes reached from the emails: the tracking pixel and the hosted invoice.
They need no API key; the unforgeable token in the path is the credential."""

from __future__ import annotations

from chalice.app import Blueprint, Request, Response

from chalicelib.container import context
from chalicelib.http import error_response
from chalicelib.observability import logger
from chalicelib.tracking import service
from chalicelib.tracking.facts import FetchRequest
from chalicelib.tracking.pixel import PIXEL_GIF, PIXEL_HEADERS

public = Blueprint(__name__)
_NO_STORE = "no-store, no-cache, must-revalidate, private, max-age=0"


def _fetch(request: Request, trigger: str | None = None) -> FetchRequest:
    context_data = request.context or {}
    return FetchRequest(
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
    try:
        hosted = service.view_invoice(context(), token, _fetch(request))
    except service.StorageLate as late:
        if late.__cause__ is not None:  # the page load could not even be queued
            logger.error("page load not recorded", exc_info=late.__cause__)
        return _page_unavailable()
    if hosted is None:
        return _page_not_found()
    from chalicelib.tracking.pages import invoice_page  # lazy: templating, not on the pixel

    page = invoice_page(hosted, token)
    return Response(
        body=page.html,
        status_code=200,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": _NO_STORE,
            "Content-Security-Policy": page.content_security_policy,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


# Every media type reaches the route, so that anything but JSON gets Sobre's own 415
# (Chalice's would answer its own shape). Only JSON: a cross-site form or a "simple"
# fetch (text/plain, no CORS preflight) cannot post it.
@public.route("/v/{token}/seen", methods=["POST"], content_types=["*/*"])
def hosted_invoice_seen(token: str) -> Response:
    """The page's beacon: it was displayed. 204 whatever was recorded, so it tells
    nothing; a beacon counts only with the nonce of the page load that served it."""
    request = public.current_request
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return error_response(
            415,
            "unsupported_media_type",
            "The beacon is sent as application/json.",
            {"content_type": media_type or None},
        )
    body = _json_object(request)
    trigger = body.get("trigger") if body.get("trigger") in ("visible", "interaction") else None
    try:
        service.confirm_view(
            context(), token, body.get("nonce"), _fetch(request, str(trigger or "beacon"))
        )
    except Exception:
        logger.exception("view not recorded")
    return Response(body="", status_code=204, headers={"Cache-Control": _NO_STORE})


def _json_object(request: Request) -> dict[str, object]:
    """The beacon's body; a malformed one is still a (machine's) display report."""
    try:
        body = request.json_body if request.raw_body else None
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


@public.route("/v/{token}/pdf", methods=["GET"])
def hosted_invoice_pdf(token: str) -> Response:
    try:
        link = service.hosted_pdf_url(context(), token)
    except service.StorageLate:
        return _page_unavailable()
    if link is None:
        return _page_not_found()
    # A short-lived presigned link to S3: the PDF never passes through the function
    # (nor its 6 MB response limit); S3 answers it with the invoice's file name.
    return Response(
        body="", status_code=302, headers={"Location": link, "Cache-Control": _NO_STORE}
    )


def _page_not_found() -> Response:
    return Response(
        body="<!doctype html><meta charset=utf-8><title>Not found</title>"
        "<p>This invoice link is not valid or has expired.</p>",
        status_code=404,
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": _NO_STORE},
    )


def _page_unavailable() -> Response:
    # Storage is late (chalicelib/tracking/deadline.py): answer now, never after 29 s.
    return Response(
        body="<!doctype html><meta charset=utf-8><title>Try again shortly</title>"
        "<p>This invoice cannot be shown right now. Please try again in a minute.</p>",
        status_code=503,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": _NO_STORE,
            "Retry-After": "30",
        },
    )
