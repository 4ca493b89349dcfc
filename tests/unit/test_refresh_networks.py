"""The parsers of tools/refresh_networks.py on payloads shaped like the published ones."""

from __future__ import annotations

import pytest

from tools.refresh_networks import collapse, google_ranges, microsoft_exchange_ranges

pytestmark = pytest.mark.disable_socket


def test_microsoft_keeps_exchange_ranges_only() -> None:
    endpoints = [
        {
            "id": 9,
            "serviceArea": "Exchange",
            "category": "Allow",
            "ips": ["40.92.0.0/15", "40.107.0.0/16", "2a01:111:f400::/48"],
        },
        {"id": 10, "serviceArea": "Exchange", "category": "Allow", "ips": ["104.47.0.0/17"]},
        {"id": 46, "serviceArea": "SharePoint", "category": "Optimize", "ips": ["13.107.136.0/22"]},
        {"id": 12, "serviceArea": "Exchange", "category": "Default", "urls": ["*.outlook.com"]},
    ]
    assert microsoft_exchange_ranges(endpoints) == [
        "40.92.0.0/15",
        "40.107.0.0/16",
        "104.47.0.0/17",
        "2a01:111:f400::/48",
    ]


def test_google_reads_both_families() -> None:
    document = {
        "syncToken": "1",
        "prefixes": [
            {"ipv4Prefix": "66.102.0.0/20"},
            {"ipv6Prefix": "2001:4860::/32"},
            {"ipv4Prefix": "66.102.16.0/20"},
        ],
    }
    assert google_ranges(document) == ["66.102.0.0/19", "2001:4860::/32"]


def test_collapse_drops_nothing_valid_and_merges_neighbours() -> None:
    assert collapse(["10.0.0.0/25", "10.0.0.128/25", None, "10.0.1.7/32"]) == [
        "10.0.0.0/24",
        "10.0.1.7/32",
    ]
