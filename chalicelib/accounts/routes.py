"""The account's own API keys (``Authorization: Bearer <key>``): create one (its secret
shown once), list them, revoke one. Each handler parses, makes one use-case call, and
responds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.container import authenticate, context
from chalicelib.http import json_errors, json_response, read_json
from chalicelib.lazy import lazy_module

if TYPE_CHECKING:
    from chalicelib.accounts import keys, service, views
else:  # loaded by the first request that needs them (chalicelib/lazy.py)
    keys = lazy_module("chalicelib.accounts.keys")
    service = lazy_module("chalicelib.accounts.service")
    views = lazy_module("chalicelib.accounts.views")

keys_api = Blueprint(__name__)
MAX_KEY_BODY = 10_000


def _authorization() -> str | None:
    return keys_api.current_request.headers.get("authorization")


@keys_api.route("/keys", methods=["POST"], content_types=["application/json"])
@json_errors
def create_key() -> Response:
    account = authenticate(_authorization())
    name = keys.key_name(read_json(keys_api.current_request, MAX_KEY_BODY))
    ctx = context()
    key, secret = keys.create_key(ctx.accounts, ctx.clock(), account.id, name)
    return json_response(keys.key_view(key, secret), 201, {"Location": f"/keys/{key.id}"})


@keys_api.route("/keys", methods=["GET"])
@json_errors
def list_keys() -> Response:
    found = keys.list_keys(context().accounts, authenticate(_authorization()).id)
    return json_response({"items": [keys.key_view(k) for k in found]})


@keys_api.route("/keys/{key_id}", methods=["DELETE"])
@json_errors
def revoke_key(key_id: str) -> Response:
    account = authenticate(_authorization())
    ctx = context()
    keys.revoke_key(ctx.accounts, ctx.clock(), account.id, key_id)
    return Response(body="", status_code=204, headers={})


@keys_api.route("/account", methods=["GET"])
@json_errors
def get_account() -> Response:
    account = authenticate(_authorization())
    return json_response(views.account_view(account, context().clock()))


@keys_api.route("/account", methods=["PATCH"], content_types=["application/json"])
@json_errors
def patch_account() -> Response:
    account = authenticate(_authorization())
    ctx = context()
    body = read_json(keys_api.current_request, MAX_KEY_BODY)
    changed = service.patch_account(ctx.accounts, account.id, body)
    return json_response(views.account_view(changed, ctx.clock()))
