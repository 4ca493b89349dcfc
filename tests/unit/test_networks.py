"""The network table (chalicelib/data/networks.json, read by chalicelib/core/networks.py):
every family names its ranges, sources and kind, and lookups by bisect agree with
``ipaddress`` on the published ranges, on addresses as the pixel stores them and on
garbage."""

from __future__ import annotations

import ipaddress
import itertools
import json
from typing import Any

import pytest

from chalicelib.core.networks import (
    NETWORKS_FILE,
    families,
    network_family,
    network_kind,
    network_label,
)
from chalicelib.core.privacy import truncate_ip
from tools.refresh_networks import CURATED, KINDS

pytestmark = pytest.mark.disable_socket

DATA: dict[str, Any] = json.loads(NETWORKS_FILE.read_text())


def test_every_family_has_a_kind_a_meaning_a_source_a_date_and_ranges() -> None:
    assert DATA["families"], "no families"
    for entry in DATA["families"]:
        assert entry["kind"] in KINDS, entry["label"]
        for field in ("meaning", "source", "updated"):
            assert entry[field], (entry["label"], field)
        assert entry["ipv4"] or entry["ipv6_64"], entry["label"]
    labels = [entry["label"] for entry in DATA["families"]]
    assert len(labels) == len(set(labels))
    assert {f.kind for f in families()} == set(KINDS)


@pytest.mark.parametrize("entry", DATA["families"], ids=[e["label"] for e in DATA["families"]])
def test_intervals_are_sorted_merged_and_disjoint(entry: dict[str, Any]) -> None:
    for key in ("ipv4", "ipv6_64"):
        bounds = entry[key]
        assert len(bounds) % 2 == 0
        pairs = list(zip(bounds[0::2], bounds[1::2], strict=True))
        assert all(start <= end for start, end in pairs)
        assert all(a[1] + 1 < b[0] for a, b in itertools.pairwise(pairs))


def _curated() -> list[tuple[str, str]]:
    return [(label, cidr) for label, _, _, _, _, cidrs in CURATED for cidr in cidrs]


def _truncated(cidr: str) -> list[str]:
    """The first and last /24 (IPv4) or /48 (IPv6) inside a range, as stored."""
    network = ipaddress.ip_network(cidr)
    prefix = 24 if network.version == 4 else 48
    if network.prefixlen >= prefix:
        return [str(network)]
    first = ipaddress.ip_network(f"{network.network_address}/{prefix}", strict=False)
    last = ipaddress.ip_network(f"{network.broadcast_address}/{prefix}", strict=False)
    return [str(first), str(last)]


@pytest.mark.parametrize(("label", "cidr"), _curated(), ids=[c for _, c in _curated()])
def test_every_curated_range_is_found_under_its_label(label: str, cidr: str) -> None:
    assert network_label(cidr) == label
    for truncated in _truncated(cidr):
        assert network_label(truncated) == label, truncated


@pytest.mark.parametrize(
    ("address", "label", "kind"),
    [
        ("40.94.89.23", "microsoft", "security"),  # Safe Links detonation, gophish/gophish#2646
        ("40.94.29.84", "microsoft", "security"),  # mautic/mautic#9400
        ("40.107.218.12", "microsoft", "security"),  # gophish/gophish#973
        ("2a01:111:f400:7e1a::5", "microsoft", "security"),
        ("2a01:111:f403:c000::1", "microsoft", "security"),
        ("::ffff:40.94.89.23", "microsoft", "security"),  # IPv4-mapped
        ("66.249.84.30", "google", "webmail"),
        ("17.58.63.5", "apple", "relay"),
        ("98.137.1.1", "yahoo", "webmail"),
        ("148.163.140.9", "proofpoint", "security"),
        ("205.139.110.30", "mimecast", "security"),
        ("209.222.82.1", "barracuda", "security"),
        ("104.28.40.7", "apple-relay", "relay"),  # an iCloud Private Relay egress
        ("52.28.114.9", "aws", "cloud"),  # public.jsonl, pub-scanner-repeats-click-aws
        ("20.103.12.4", "azure", "cloud"),
        ("34.141.23.8", "google-cloud", "cloud"),
        ("2a01:111:f402::1", "azure", "cloud"),  # next to Microsoft's mail /48s, not in them
        ("52.96.12.7", "microsoft-365", "gateway"),  # Exchange Online, endpoints IDs 1-2
        ("203.0.113.77", None, None),  # documentation range, even where a list carries it
        ("2001:db8:abcd:12::1", None, None),
    ],
)
def test_label_and_kind_of_an_address_as_the_pixel_stores_it(
    address: str, label: str | None, kind: str | None
) -> None:
    stored = truncate_ip(address)
    assert network_label(stored) == label
    assert network_kind(stored) == kind


@pytest.mark.parametrize(
    "garbage",
    [None, "", "garbage", "40.94.0.0/33", "999.1.1.0/24", "40.94.x.0/24", "2a01:111:f400::/129"],
)
def test_garbage_has_no_label(garbage: str | None) -> None:
    assert network_label(garbage) is None
    assert network_family(garbage) is None


def test_an_ipv4_network_never_matches_an_ipv6_range() -> None:
    # 42.1.1.17 has the same leading bytes as Microsoft's 2a01:111:...: families never mix.
    assert network_label("42.1.1.0/24") is None


def test_the_first_family_in_the_file_wins_where_ranges_overlap() -> None:
    # Microsoft's mail ranges lie inside Azure's: the mail family comes first.
    assert network_label("40.107.0.0/24") == "microsoft"
    order = [f.label for f in families()]
    assert order.index("microsoft") < order.index("azure")
    assert all(order.index(label) < order.index("aws") for label, *_ in CURATED)


def test_bisect_agrees_with_ipaddress_on_a_sample_of_every_family() -> None:
    for family in families():
        starts, ends = family.v4_starts, family.v4_ends
        for start, end in list(zip(starts, ends, strict=True))[:: max(1, len(starts) // 20)]:
            inside = str(ipaddress.IPv4Address(start + (end - start) // 2))
            assert network_family(f"{inside}/32") is not None, inside
            if end < 2**32 - 1:
                after = ipaddress.IPv4Address(end + 1)
                outside = network_family(f"{after}/32")
                # Merged intervals never touch: the address after one is not the family's.
                assert outside is None or outside.label != family.label, after
