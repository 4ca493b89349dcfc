"""The tracking pixel: the GIF it answers with and the open it records. Pure."""

from __future__ import annotations

import ipaddress
import secrets
from datetime import datetime

from chalicelib.ids import TrackingTarget
from chalicelib.model import iso
from chalicelib.status import Fact

# A 1x1 transparent GIF (43 bytes).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
PIXEL_HEADERS = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
MAX_USER_AGENT = 512


def truncate_ip(address: str | None) -> str | None:
    """The network an address belongs to, never the address: IPv4 /24, IPv6 /48."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def strip_token(raw: str) -> str:
    """Mail clients fetch ``/t/<token>`` or ``/t/<token>.gif``."""
    return raw[:-4] if raw.lower().endswith(".gif") else raw


def pixel_open(
    target: TrackingTarget,
    at: datetime,
    user_agent: str | None,
    source_ip: str | None,
    method: str,
    request_id: str | None,
) -> Fact:
    """The open a pixel fetch records. Every fetch is its own open, so the key is the
    request's own id (API Gateway's), or random when there is none."""
    key = f"px-{request_id or secrets.token_hex(8)}"
    return Fact(
        key=key,
        type="open",
        at=iso(at),
        recipient_id=target.recipient_id,
        source="pixel",
        details={
            "user_agent": (user_agent or "")[:MAX_USER_AGENT] or None,
            "ip": truncate_ip(source_ip),
            "method": method,
        },
    )
