"""The dashboard: a web app over the account's invoices, served by the API itself.

``GET /`` and ``GET /app`` answer the page (``static/index.html``); ``GET
/app/assets/{name}`` answers its JavaScript modules, style sheet and icon from
``chalicelib/dashboard/static``. Same origin as the JSON API, nothing from a CDN, no build step:
the page signs in with an API key kept in the tab's ``sessionStorage`` and calls the
API as any client does. No database, no settings: these routes never touch AWS.

Only files present in ``static/`` when the container starts, with plain names
(``app.js``, ``app.css``, ``icon.svg``), can be served; any other name, ``..`` or an
encoded slash included, is a 404 without a filesystem lookup.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from chalice.app import Blueprint, Response

dashboard = Blueprint(__name__)

STATIC = Path(__file__).resolve().with_name("static")
INDEX = "index.html"
ASSET_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\.(?:js|css|svg)")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Scripts, styles, images and API calls from this origin only; no inline code, no
# eval, no HTML sinks (Trusted Types with no policy: the app builds its DOM with
# createElement and textContent), no framing, no form submissions.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
# The files are not fingerprinted, so a browser keeps them but asks every time
# (If-None-Match: a 304 without a body when nothing changed).
CACHE_CONTROL = "no-cache"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@dataclass(frozen=True)
class StaticFile:
    body: str
    content_type: str
    etag: str


@lru_cache(maxsize=64)
def _read(path: Path, modified_ns: int) -> StaticFile:
    body = path.read_text(encoding="utf-8")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]
    return StaticFile(body, CONTENT_TYPES[path.suffix], f'"{digest}"')


def _load(path: Path) -> StaticFile:
    """The file, read again only when it changed (``make run`` picks up edits)."""
    return _read(path, path.stat().st_mtime_ns)


@cache
def asset_paths() -> dict[str, Path]:
    """Every servable asset by name, listed once per container."""
    return {
        path.name: path
        for path in sorted(STATIC.iterdir())
        if path.is_file() and ASSET_NAME.fullmatch(path.name)
    }


def _answer(found: StaticFile, extra: dict[str, str] | None = None) -> Response:
    headers: dict[str, str | list[str]] = {
        **SECURITY_HEADERS,
        "Content-Type": found.content_type,
        "Cache-Control": CACHE_CONTROL,
        "ETag": found.etag,
        **(extra or {}),
    }
    request = dashboard.current_request
    if found.etag in _etags(request.headers.get("if-none-match")):
        return Response(body="", status_code=304, headers=headers)
    return Response(body=found.body, status_code=200, headers=headers)


def _etags(header: str | None) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in (header or "").split(",") if tag.strip()}


def _page() -> Response:
    return _answer(_load(STATIC / INDEX), {"Content-Security-Policy": CONTENT_SECURITY_POLICY})


@dashboard.route("/", methods=["GET"])
def dashboard_root() -> Response:
    return _page()


@dashboard.route("/app", methods=["GET"])
def dashboard_app() -> Response:
    return _page()


@dashboard.route("/app/assets/{name}", methods=["GET"])
def dashboard_asset(name: str) -> Response:
    path = asset_paths().get(name)
    if path is None:
        return Response(
            body="Not found",
            status_code=404,
            headers={
                **SECURITY_HEADERS,
                "Content-Type": "text/plain; charset=utf-8",
                "Cache-Control": "no-store",
            },
        )
    return _answer(_load(path))
