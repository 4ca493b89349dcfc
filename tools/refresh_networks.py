"""Rebuild chalicelib/data/networks.json from published network lists.

    python -m tools.refresh_networks --snapshot DIR   # rewrite the file from a snapshot
    python -m tools.refresh_networks --snapshot DIR --dry-run

DIR is a copy of lord-alfred/ipranges (one folder per operator, ``ipv4_merged.txt`` and
``ipv6_merged.txt``, its ``SOURCES.md`` naming the commit and date), which rebuilds each list
daily from the operators' own publications: Apple's iCloud Private Relay egress, Microsoft
Azure, Google Cloud and Google's crawlers, Bing's, Meta's and OpenAI's crawlers, AWS and other
clouds. The mail gateways publish no machine-readable list, so their ranges are kept here in
CURATED, each with where it was read. Sobre never downloads anything at run time: this is
run by a maintainer and the result committed, with the source and date of every family.

The file stores each family as sorted, merged integer intervals (IPv4 addresses; IPv6 by
their first 64 bits, since stored networks are /48 and no published range that matters is
finer than a /64) so that chalicelib/core/networks.py looks a network up with a bisect
instead of building 10⁵ ``ip_network`` objects on a cold start.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from chalicelib.core.networks import NETWORKS_FILE

# What a fetch from each kind of network says (chalicelib/core/classification.py):
# security: a mail security service's scanning network (Microsoft EOP and Defender,
#   Mimecast, Proofpoint, Barracuda), where no person browses from: a machine at any time
#   (time-of-click checks and forwards come hours after delivery);
# gateway: Exchange Online's service endpoints, a machine soon after delivery whatever its
#   user agent (later fetches may be Outlook's own services acting for a person);
# crawler: a crawler's or preview bot's own network, a machine at any time;
# cloud: a cloud provider, a machine when it is the first fetch soon after delivery;
# webmail / relay: informative only (an image proxy's or Apple's relay network).
KINDS = ("security", "gateway", "crawler", "cloud", "webmail", "relay")

MS_ENDPOINTS = (
    "Microsoft 365 endpoints web service (endpoints.office.com/endpoints/worldwide), "
    "service area Exchange: IDs 1 and 2 (Exchange Online) as copied in "
    "gl4ssesbo1/Nebula teamserver/core/module/reconnaissance/__ip_source/O365_IP_Ranges.py, "
    "IDs 9 and 10 (Exchange Online Protection) as in Microsoft's 'Exchange Online Protection "
    "IP addresses' page (v-paalex/OfficeDocs-o365seccomp); 40.94.0.0/16 from Safe Links "
    "detonations reported in gophish/gophish#2646"
)
VENDOR_COMPILATION = (
    "a public compilation of email-scanner ranges in the GitHub index (file id 45651075130, "
    "citing campus.barracuda.com/product/essentials/doc/78154145, community.mimecast.com "
    "'Mimecast IP Ranges', help.proofpoint.com); the vendors' own pages need a login and "
    "could not be read from here"
)
# (label, kind, meaning, source, updated, CIDRs). Order matters: the first family whose
# ranges overlap a network names it, so gateways and proxies come before the clouds that
# contain them.
CURATED: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    (
        "microsoft",
        "security",
        "Exchange Online Protection and Microsoft Defender for Office 365: mail flow, Safe "
        "Links detonation and time-of-click checks, with ordinary browser user agents, at "
        "delivery, on forwards and when a person clicks. Nobody browses from these ranges.",
        MS_ENDPOINTS,
        "2026-12-02",
        (
            "23.103.132.0/22",
            "23.103.136.0/21",
            "23.103.144.0/20",
            "23.103.198.0/23",
            "23.103.200.0/22",
            "40.92.0.0/15",
            "40.94.0.0/16",
            "40.107.0.0/16",
            "52.100.0.0/14",
            "52.238.78.88/32",
            "104.47.0.0/17",
            "2a01:111:f400::/48",
            "2a01:111:f403::/48",
        ),
    ),
    (
        "microsoft-365",
        "gateway",
        "Exchange Online's service endpoints (Outlook on the web, mail flow): machines soon "
        "after delivery; later fetches may be Outlook's own services acting for a person.",
        MS_ENDPOINTS,
        "2026-12-02",
        (
            "13.107.6.152/31",
            "13.107.18.10/31",
            "13.107.128.0/22",
            "23.103.160.0/20",
            "40.96.0.0/13",
            "40.104.0.0/15",
            "52.96.0.0/14",
            "131.253.33.215/32",
            "132.245.0.0/16",
            "150.171.32.0/22",
            "204.79.197.215/32",
            "2603:1006::/40",
            "2603:1016::/36",
            "2603:1026::/36",
            "2603:1036::/36",
            "2603:1046::/36",
            "2603:1056::/36",
            "2620:1ec:4::152/127",
            "2620:1ec:c::10/127",
            "2620:1ec:d::10/127",
            "2620:1ec:8f0::/46",
            "2620:1ec:900::/46",
            "2620:1ec:a92::152/127",
        ),
    ),
    (
        "barracuda",
        "security",
        "Barracuda Email Security Service (link protection fetches).",
        "Barracuda Email Security Service ranges (campus.barracuda.com), as in "
        + VENDOR_COMPILATION,
        "2026-12-02",
        ("64.235.144.0/20", "209.222.80.0/21"),
    ),
    (
        "mimecast",
        "security",
        "Mimecast gateways (URL protection fetches).",
        "_netblocks.mimecast.com SPF records and " + VENDOR_COMPILATION,
        "2026-12-02",
        (
            "205.139.110.0/23",
            "207.211.30.0/23",
            "216.205.24.0/24",
            "170.10.128.0/22",
            "91.220.42.0/23",
            "195.130.217.0/24",
        ),
    ),
    (
        "proofpoint",
        "security",
        "Proofpoint gateways (URL Defense fetches).",
        "Proofpoint hosted (pphosted) ranges and " + VENDOR_COMPILATION,
        "2026-12-02",
        (
            "148.163.128.0/19",
            "205.220.160.0/19",
            "67.231.144.0/20",
            "67.231.152.0/21",
            "185.132.180.0/22",
        ),
    ),
    (
        "google",
        "webmail",
        "Google, where the Gmail image proxy (GoogleImageProxy) fetches from when a person "
        "opens the mail.",
        "_netblocks.google.com SPF records",
        "2026-11-29",
        (
            "64.233.160.0/19",
            "66.102.0.0/20",
            "66.249.80.0/20",
            "72.14.192.0/18",
            "74.125.0.0/16",
            "173.194.0.0/16",
            "209.85.128.0/17",
            "216.239.32.0/19",
        ),
    ),
    (
        "yahoo",
        "webmail",
        "Yahoo and AOL, where YahooMailProxy fetches from.",
        "Yahoo network allocations (ARIN)",
        "2026-11-29",
        ("67.195.0.0/16", "74.6.0.0/16", "98.136.0.0/14"),
    ),
    (
        "apple",
        "relay",
        "Apple, one of the networks Mail Privacy Protection prefetches from.",
        "Apple's 17.0.0.0/8 allocation",
        "2026-11-29",
        ("17.0.0.0/8",),
    ),
)
# (label, kind, snapshot folder, meaning), after CURATED in priority order.
SNAPSHOT: tuple[tuple[str, str, str, str], ...] = (
    ("apple-relay", "relay", "apple-proxy", "iCloud Private Relay egress (Mail Privacy "
     "Protection prefetches, and people browsing through the relay)."),
    ("googlebot", "crawler", "googlebot", "Google's crawlers and fetchers."),
    ("bingbot", "crawler", "bing", "Bing's crawler and link previews."),
    ("meta-crawler", "crawler", "facebook", "Meta's crawlers (link previews of Facebook, "
     "Instagram, WhatsApp)."),
    ("openai-crawler", "crawler", "openai", "OpenAI's crawlers and fetchers."),
    ("telegram", "crawler", "telegram", "Telegram's servers (link previews)."),
    ("twitter", "crawler", "twitter", "X/Twitter's servers (link previews)."),
    ("azure", "cloud", "microsoft", "Microsoft Azure (cloud gateways, sandboxes; also "
     "people on cloud desktops)."),
    ("aws", "cloud", "amazon", "Amazon Web Services."),
    ("google-cloud", "cloud", "google", "Google Cloud."),
    ("oracle", "cloud", "oracle", "Oracle Cloud."),
    ("digitalocean", "cloud", "digitalocean", "DigitalOcean."),
    ("linode", "cloud", "linode", "Linode (Akamai)."),
    ("vultr", "cloud", "vultr", "Vultr."),
    ("cloudflare", "cloud", "cloudflare", "Cloudflare (Workers; WARP egress is also people)."),
)  # fmt: skip


def intervals(cidrs: Iterable[str], version: int) -> list[int]:
    """Sorted, merged [start, end] intervals, flattened: IPv4 by address, IPv6 by the first
    64 bits (see the module docstring)."""
    spans: list[tuple[int, int]] = []
    for text in cidrs:
        network = ipaddress.ip_network(text.strip(), strict=False)
        if network.version != version or not network.is_global:
            # Published lists carry documentation and private ranges (Vultr's lists
            # 192.0.2.0/24 and 203.0.113.0/24): they say nothing about who fetched.
            continue
        start, end = int(network.network_address), int(network.broadcast_address)
        if version == 6:
            start, end = start >> 64, end >> 64
        spans.append((start, end))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [bound for span in merged for bound in span]


def collapse(ranges: Iterable[str | None]) -> list[str]:
    """Valid networks only, merged where adjacent, IPv4 first."""
    networks = [ipaddress.ip_network(r, strict=False) for r in ranges if r]
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [str(n) for n in ipaddress.collapse_addresses(v4)] + [
        str(n) for n in ipaddress.collapse_addresses(v6)
    ]


def family(
    label: str, kind: str, meaning: str, source: str, updated: str, cidrs: Iterable[str]
) -> dict[str, Any]:
    ranges = list(cidrs)
    return {
        "label": label,
        "kind": kind,
        "meaning": meaning,
        "source": source,
        "updated": updated,
        "ipv4": intervals(ranges, 4),
        "ipv6_64": intervals(ranges, 6),
    }


def snapshot_origin(directory: Path) -> tuple[str, str]:
    """(commit, date) of the snapshot, read from its SOURCES.md."""
    text = (directory / "SOURCES.md").read_text()
    commit = re.search(r"`([0-9a-f]{40})`", text)
    date = re.search(r"\((\d{4}-\d{2}-\d{2})\)", text)
    return (commit.group(1) if commit else "unknown", date.group(1) if date else "unknown")


def read_folder(directory: Path) -> list[str]:
    lines: list[str] = []
    for name in ("ipv4_merged.txt", "ipv6_merged.txt"):
        path = directory / name
        if path.exists():
            lines += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return lines


def build(snapshot: Path) -> dict[str, Any]:
    commit, date = snapshot_origin(snapshot)
    families = [family(*entry[:5], entry[5]) for entry in CURATED]
    for label, kind, folder, meaning in SNAPSHOT:
        source = f"lord-alfred/ipranges@{commit[:12]} ({date}) {folder}/, CC0 1.0"
        families.append(family(label, kind, meaning, source, date, read_folder(snapshot / folder)))
    return {
        "about": (
            "Networks whose fetches of a pixel or link say who fetched it. Families in "
            "priority order (the first that overlaps a network names it); ranges as sorted "
            "merged integer intervals [start, end, start, end, ...]: ipv4 by address, "
            "ipv6_64 by the first 64 bits of the address. Rebuild with "
            "`python -m tools.refresh_networks --snapshot DIR`; nothing is downloaded at run time."
        ),
        "updated": max(f["updated"] for f in families),
        "kinds": list(KINDS),
        "families": families,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.refresh_networks", description=__doc__)
    parser.add_argument("--snapshot", type=Path, required=True, help="lord-alfred/ipranges copy")
    parser.add_argument("--output", type=Path, default=NETWORKS_FILE)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    data = build(args.snapshot)
    for entry in data["families"]:
        count = (len(entry["ipv4"]) + len(entry["ipv6_64"])) // 2
        print(f"{entry['label']:<16} {entry['kind']:<8} {count:>6} intervals", file=sys.stderr)
    if not args.dry_run:
        # One family a line: small diffs on refresh, and a file that stays compact.
        lines = [json.dumps(f, separators=(",", ":")) for f in data["families"]]
        head = {k: v for k, v in data.items() if k != "families"}
        text = json.dumps(head, indent=1)[:-2] + ',\n "families": [\n' + ",\n".join(lines)
        args.output.write_text(text + "\n ]\n}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
