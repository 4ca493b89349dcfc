"""Who operates a network: the published ranges of mail gateways, webmail proxies and
Apple's relay (chalicelib/data/networks.json, refreshed by tools/refresh_networks.py).
Pure; the file is read once per container."""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path

NETWORKS_FILE = Path(__file__).resolve().parents[1] / "data" / "networks.json"


@lru_cache(maxsize=1)
def _networks() -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    data = json.loads(NETWORKS_FILE.read_text())
    ranges = [
        (ipaddress.ip_network(cidr), label)
        for label, entry in data["networks"].items()
        for cidr in entry["ranges"]
    ]
    # Most specific first, so a /24 inside a broader range wins.
    return tuple(sorted(ranges, key=lambda pair: -pair[0].prefixlen))


@lru_cache(maxsize=4096)
def network_label(network: str | None) -> str | None:
    """The known operator of a (truncated) network, e.g. "microsoft", or None."""
    if not network:
        return None
    try:
        subject = ipaddress.ip_network(network, strict=False)
    except ValueError:
        return None
    for known, label in _networks():
        if subject.version == known.version and subject.overlaps(known):
            return label
    return None
