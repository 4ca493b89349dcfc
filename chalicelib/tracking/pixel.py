"""The tracking pixel's answer: a 1x1 transparent GIF that no cache keeps. Pure."""

from __future__ import annotations

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


def strip_token(raw: str) -> str:
    """Mail clients fetch ``/t/<token>`` or ``/t/<token>.gif``."""
    return raw[:-4] if raw.lower().endswith(".gif") else raw
