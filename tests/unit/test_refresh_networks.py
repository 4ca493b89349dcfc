"""tools/refresh_networks.py: integer intervals, the snapshot it reads, the file it writes."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from tools import refresh_networks
from tools.refresh_networks import CURATED, SNAPSHOT, build, collapse, intervals, snapshot_origin

pytestmark = pytest.mark.disable_socket


def test_intervals_merge_neighbours_and_overlaps_and_keep_one_family() -> None:
    cidrs = ["10.0.1.0/24", "8.8.8.0/24", "8.8.9.0/24", "8.8.8.128/25", "2001:4860::/32"]
    start = int(ipaddress.IPv4Address("8.8.8.0"))
    assert intervals(cidrs, 4) == [start, start + 511]  # 10.0.1.0/24 is private: dropped
    v6 = int(ipaddress.IPv6Address("2001:4860::")) >> 64
    assert intervals(cidrs, 6) == [v6, v6 + 2**32 - 1]


def test_intervals_drop_documentation_and_private_ranges() -> None:
    assert intervals(["192.0.2.0/24", "203.0.113.0/24", "10.0.0.0/8", "2001:db8::/32"], 4) == []
    assert intervals(["2001:db8::/32", "fd00::/8"], 6) == []


def test_collapse_drops_nothing_valid_and_merges_neighbours() -> None:
    assert collapse(["10.0.0.0/25", "10.0.0.128/25", None, "10.0.1.7/32"]) == [
        "10.0.0.0/24",
        "10.0.1.7/32",
    ]


def _snapshot(root: Path) -> Path:
    (root / "SOURCES.md").write_text(
        "Copied from lord-alfred/ipranges at commit\n"
        "`14dd971b18758c856dd47b2fc51c9376d2413c6a` (2026-08-22).\n"
    )
    for _, _, folder, _ in SNAPSHOT:
        (root / folder).mkdir()
    (root / "amazon" / "ipv4_merged.txt").write_text("52.28.0.0/16\n3.5.0.0/19\n")
    (root / "amazon" / "ipv6_merged.txt").write_text("2600:1f00::/24\n")
    return root


def test_snapshot_origin_reads_commit_and_date(tmp_path: Path) -> None:
    commit, date = snapshot_origin(_snapshot(tmp_path))
    assert (commit[:12], date) == ("14dd971b1875", "2026-08-22")


def test_build_keeps_every_family_in_order_with_source_and_date(tmp_path: Path) -> None:
    data = build(_snapshot(tmp_path))
    labels = [f["label"] for f in data["families"]]
    assert labels == [c[0] for c in CURATED] + [s[0] for s in SNAPSHOT]
    aws = data["families"][labels.index("aws")]
    assert aws["source"].startswith("lord-alfred/ipranges@14dd971b1875 (2026-08-22) amazon/")
    assert aws["updated"] == "2026-08-22"
    assert (len(aws["ipv4"]), len(aws["ipv6_64"])) == (4, 2)
    assert data["families"][labels.index("vultr")]["ipv4"] == []


def test_main_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "networks.json"
    (tmp_path / "snap").mkdir()
    snapshot = str(_snapshot(tmp_path / "snap"))
    assert refresh_networks.main(["--snapshot", snapshot, "--output", str(target)]) == 0
    data = json.loads(target.read_text())
    assert [f["label"] for f in data["families"]][:4] == [c[0] for c in CURATED][:4]
    assert data["about"]
    assert data["updated"]
