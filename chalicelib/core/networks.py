"""Who operates a network: mail gateways, webmail proxies, Apple's relay, crawlers and
clouds, from their published ranges (chalicelib/data/networks.json, rebuilt by
tools/refresh_networks.py). Pure; the file is read once per container.

The file holds each family as sorted, merged integer intervals, so a lookup is one bisect
per family and a cold start parses ~10⁴ integers instead of building 10⁵ ``ip_network``
objects (bench/classifier.py measures both).
"""

from __future__ import annotations

import ipaddress
import json
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

NETWORKS_FILE = Path(__file__).resolve().parents[1] / "data" / "networks.json"


@dataclass(frozen=True)
class Family:
    label: str
    kind: str  # gateway, crawler, cloud, webmail, relay (tools/refresh_networks.py)
    v4_starts: tuple[int, ...]
    v4_ends: tuple[int, ...]
    v6_starts: tuple[int, ...]  # IPv6 by the first 64 bits
    v6_ends: tuple[int, ...]

    def overlaps(self, version: int, start: int, end: int) -> bool:
        starts, ends = (
            (self.v4_starts, self.v4_ends) if version == 4 else (self.v6_starts, self.v6_ends)
        )
        index = bisect_right(starts, end) - 1
        return index >= 0 and ends[index] >= start


@lru_cache(maxsize=1)
def families() -> tuple[Family, ...]:
    """Every family, in priority order (the first that overlaps a network names it)."""
    data = json.loads(NETWORKS_FILE.read_text())
    return tuple(
        Family(
            label=entry["label"],
            kind=entry["kind"],
            v4_starts=tuple(entry["ipv4"][0::2]),
            v4_ends=tuple(entry["ipv4"][1::2]),
            v6_starts=tuple(entry["ipv6_64"][0::2]),
            v6_ends=tuple(entry["ipv6_64"][1::2]),
        )
        for entry in data["families"]
    )


def _span(network: str) -> tuple[int, int, int] | None:
    """(version, first, last) of a network or address; IPv6 by its first 64 bits."""
    try:
        subject = ipaddress.ip_network(network.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(subject, ipaddress.IPv6Network) and subject.network_address.ipv4_mapped:
        mapped = subject.network_address.ipv4_mapped
        return 4, int(mapped), int(mapped) + max(0, 2 ** max(0, 128 - subject.prefixlen) - 1)
    start, end = int(subject.network_address), int(subject.broadcast_address)
    if subject.version == 6:
        return 6, start >> 64, end >> 64
    return 4, start, end


@lru_cache(maxsize=4096)
def network_family(network: str | None) -> Family | None:
    """The known operator of a (truncated) network, or None."""
    if not network:
        return None
    span = _span(network)
    if span is None:
        return None
    version, start, end = span
    return next((f for f in families() if f.overlaps(version, start, end)), None)


def network_label(network: str | None) -> str | None:
    """The known operator of a (truncated) network, e.g. "microsoft", or None."""
    found = network_family(network)
    return found.label if found else None


def network_kind(network: str | None) -> str | None:
    """What kind of operator runs it: gateway, crawler, cloud, webmail, relay, or None."""
    found = network_family(network)
    return found.kind if found else None
