"""What a webhook may point to (SSRF): https only, never a private, loopback,
link-local or reserved address outside the local stage; checked when a webhook is
registered (``url_problem``) and again on what its host resolves to when delivering
(``address_problem``). Pure."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import SplitResult, urlsplit

from chalicelib.core.webhooks import MAX_URL_LENGTH


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, local: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if local and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def url_problem(url: Any, stage: str) -> str | None:
    """Why ``url`` may not be a webhook, or None. https only; outside the local stage,
    never a private, loopback, link-local or reserved address (SSRF). The local stage
    also allows http://127.0.0.1 (a receiver on the developer's machine)."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        return f"must be an absolute https URL of at most {MAX_URL_LENGTH} characters"
    local = stage == "local"
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    return _shape_problem(parts, host, local) or _host_problem(host, local)


def _shape_problem(parts: SplitResult, host: str, local: bool) -> str | None:
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "has a bad port"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if not host:
        return "must name a host"
    scheme = parts.scheme.lower()
    if scheme == "http" and not (local and host == "127.0.0.1"):
        return "must use https" + (" (or http://127.0.0.1 on the local stage)" if local else "")
    if scheme not in ("http", "https"):
        return "must use https"
    return None


def _host_problem(host: str, local: bool) -> str | None:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        if not _address_allowed(literal, local):
            return "must not point to a private, loopback or reserved address"
        return None
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return "must not point to a private, loopback or reserved address"
    if "." not in host:
        return "must name a public host"
    return None


def address_problem(addresses: list[str], stage: str) -> str | None:
    """Checked again when delivering, on what the host name resolves to now: a name
    that resolved to a public address when registered may not point inside later."""
    if not addresses:
        return "the host name does not resolve"
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return f"the host resolves to an unusable address {text!r}"
        if not _address_allowed(address, stage == "local"):
            return f"the host resolves to a private, loopback or reserved address ({address})"
    return None
