"""The webhooks API (``Authorization: Bearer <key>``): register, list, read, delete
and enable webhooks, and list their deliveries. Each handler parses, makes one use-case
call, and responds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.container import authenticate, jobs
from chalicelib.http import json_errors, json_response, read_json
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.alerts import service, views
else:  # loaded by the first request that needs them (chalicelib/lazy.py)
    service = lazy_module("chalicelib.alerts.service")
    views = lazy_module("chalicelib.alerts.views")

webhooks_api = Blueprint(__name__)
MAX_WEBHOOK_BODY = 100_000


def _authorization() -> str | None:
    return webhooks_api.current_request.headers.get("authorization")


def _params() -> Mapping[str, str]:
    return webhooks_api.current_request.query_params or {}


@webhooks_api.route("/webhooks", methods=["POST"], content_types=["application/json"])
@json_errors
def create_webhook() -> Response:
    account = authenticate(_authorization())
    body = read_json(webhooks_api.current_request, MAX_WEBHOOK_BODY)
    webhook = service.create_webhook(jobs(), account, body)
    return json_response(
        views.webhook_view(webhook, secret=True), 201, {"Location": f"/webhooks/{webhook.id}"}
    )


@webhooks_api.route("/webhooks", methods=["GET"])
@json_errors
def list_webhooks() -> Response:
    found = service.list_webhooks(jobs(), authenticate(_authorization()))
    return json_response({"items": [views.webhook_view(w) for w in found]})


@webhooks_api.route("/webhooks/{webhook_id}", methods=["GET"])
@json_errors
def get_webhook(webhook_id: str) -> Response:
    webhook = service.get_webhook(jobs(), authenticate(_authorization()), webhook_id)
    return json_response(views.webhook_view(webhook))


@webhooks_api.route("/webhooks/{webhook_id}", methods=["DELETE"])
@json_errors
def delete_webhook(webhook_id: str) -> Response:
    service.delete_webhook(jobs(), authenticate(_authorization()), webhook_id)
    return Response(body="", status_code=204, headers={})


@webhooks_api.route("/webhooks/{webhook_id}/enable", methods=["POST"])
@json_errors
def enable_webhook(webhook_id: str) -> Response:
    webhook, queued = service.enable_webhook(jobs(), authenticate(_authorization()), webhook_id)
    return json_response({"webhook": views.webhook_view(webhook), "requeued": queued})


@webhooks_api.route("/webhooks/{webhook_id}/deliveries", methods=["GET"])
@json_errors
def list_deliveries(webhook_id: str) -> Response:
    params = _params()
    account = authenticate(_authorization())
    items, cursor = service.list_deliveries(
        jobs(), account, webhook_id, params.get("limit"), params.get("cursor")
    )
    return json_response({"items": [views.delivery_view(d) for d in items], "next": cursor})
