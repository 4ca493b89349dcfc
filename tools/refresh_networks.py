"""Refresh chalicelib/data/networks.json from the lists their operators publish.

    python -m tools.refresh_networks            # rewrite the file (needs the internet)
    python -m tools.refresh_networks --dry-run  # show what would change

Sources with a machine-readable list are refreshed: Microsoft 365's endpoints web
service (service area Exchange) and Google's published IP ranges. The others
(Barracuda, Mimecast, Proofpoint, Yahoo, Apple) publish no such list; their entries are
kept as curated and reviewed by hand. Sobre never downloads anything at run time: this
is run by a maintainer, and the result committed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
import urllib.request
import uuid
from collections.abc import Iterable
from typing import Any

from chalicelib.core.networks import NETWORKS_FILE

MICROSOFT_URL = "https://endpoints.office.com/endpoints/worldwide?clientrequestid={id}"
GOOGLE_URL = "https://www.gstatic.com/ipranges/goog.json"
# Ranges seen in the field but absent from the published lists, kept on refresh:
# Defender for Office 365 detonations (gophish/gophish#2646).
FIELD_OBSERVED: dict[str, set[str]] = {"microsoft": {"40.94.0.0/16"}}


def microsoft_exchange_ranges(endpoints: list[dict[str, Any]]) -> list[str]:
    """The Exchange Online ranges (mail flow and protection) of the endpoints list."""
    found = {
        ip
        for entry in endpoints
        if entry.get("serviceArea") == "Exchange"
        and entry.get("category") in (None, "Allow", "Optimize", "Default")
        for ip in entry.get("ips", [])
    }
    return collapse(found)


def google_ranges(document: dict[str, Any]) -> list[str]:
    prefixes = document.get("prefixes", [])
    return collapse(p.get("ipv4Prefix") or p.get("ipv6Prefix") for p in prefixes)


def collapse(ranges: Iterable[str | None]) -> list[str]:
    """Valid networks only, merged where adjacent, IPv4 first."""
    networks = [ipaddress.ip_network(r, strict=False) for r in ranges if r]
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [str(n) for n in ipaddress.collapse_addresses(v4)] + [
        str(n) for n in ipaddress.collapse_addresses(v6)
    ]


def _download(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (https only)
        return json.load(response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.refresh_networks", description=__doc__)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    data = json.loads(NETWORKS_FILE.read_text())
    refreshed = {
        "microsoft": microsoft_exchange_ranges(_download(MICROSOFT_URL.format(id=uuid.uuid4()))),
        "google": google_ranges(_download(GOOGLE_URL)),
    }
    for label, ranges in refreshed.items():
        old = set(data["networks"][label]["ranges"])
        keep = FIELD_OBSERVED.get(label, set()) & old
        data["networks"][label]["ranges"] = sorted(set(ranges) | keep)
        added, removed = set(ranges) - old, old - set(ranges) - keep
        print(f"{label}: +{len(added)} -{len(removed)}", file=sys.stderr)
    if not args.dry_run:
        NETWORKS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
