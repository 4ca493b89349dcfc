"""The tracking pixel (chalicelib/tracking/pixel.py, facts.py; chalicelib/core/privacy.py). Pure."""

from __future__ import annotations

import socket
import struct
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pytest_socket import SocketBlockedError

from chalicelib.core.privacy import MAX_USER_AGENT, truncate_ip
from chalicelib.ids import TrackingTarget
from chalicelib.tracking.pixel import PIXEL_GIF, PIXEL_HEADERS, strip_token
from tests.fakes import pixel_open

pytestmark = pytest.mark.disable_socket

TARGET = TrackingTarget("inv_" + "a" * 26, "rcp_" + "b" * 16)
MOMENT = datetime(2026, 2, 1, 8, 15, 30, 123456, tzinfo=UTC)


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_unit_tests_have_no_network() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


# -- truncate_ip --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.0", "203.0.113.0/24"),
        ("8.8.8.8", "8.8.8.0/24"),
        (" 198.51.100.255 ", "198.51.100.0/24"),
        ("2001:db8:abcd:12:3456::1", "2001:db8:abcd::/48"),
        ("2001:0DB8:ABCD:FFFF:FFFF:FFFF:FFFF:FFFF", "2001:db8:abcd::/48"),
        ("::1", "::/48"),
        ("::ffff:203.0.113.77", "203.0.113.0/24"),  # IPv4-mapped: treated as the IPv4
        ("::ffff:cb00:714d", "203.0.113.0/24"),
    ],
)
def test_truncate_ip(address: str, network: str) -> None:
    assert truncate_ip(address) == network


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        "",
        "   ",
        "localhost",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.4/24",
        "203.0.113.7, 10.0.0.1",  # an X-Forwarded-For list
        "2001:db8::g",
        "2001:db8:::1",
        "unknown",
    ],
)
def test_truncate_ip_garbage_is_none(garbage: str | None) -> None:
    assert truncate_ip(garbage) is None


@given(st.ip_addresses(v=4))
def test_truncated_ipv4_keeps_only_the_first_three_octets(address: IPv4Address) -> None:
    network = truncate_ip(str(address))
    assert network is not None
    assert network == ".".join(str(address).split(".")[:3]) + ".0/24"


@given(st.ip_addresses(v=6))
def test_truncated_ipv6_is_its_48_or_a_mapped_24(address: IPv6Address) -> None:
    network = truncate_ip(str(address))
    assert network is not None
    if address.ipv4_mapped is not None:
        assert network == str(ip_network(f"{address.ipv4_mapped}/24", strict=False))
    else:
        assert network.endswith("/48")
        assert address in ip_network(network)


@given(st.text(max_size=60))
def test_truncate_ip_never_raises(text: str) -> None:
    result = truncate_ip(text)
    assert result is None or result.endswith(("/24", "/48"))


# -- strip_token -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "token"),
    [
        ("abc", "abc"),
        ("abc.gif", "abc"),
        ("abc.GIF", "abc"),
        ("abc.Gif", "abc"),
        ("abc.png", "abc.png"),
        ("abc.gif.gif", "abc.gif"),
        (".gif", ""),
        ("", ""),
        ("gif", "gif"),
    ],
)
def test_strip_token(raw: str, token: str) -> None:
    assert strip_token(raw) == token


# -- the GIF ---------------------------------------------------------------------------------


def test_pixel_is_a_1x1_gif89a() -> None:
    assert PIXEL_GIF.startswith(b"GIF89a")
    width, height = struct.unpack("<HH", PIXEL_GIF[6:10])
    assert (width, height) == (1, 1)
    assert PIXEL_GIF.endswith(b";")  # the GIF trailer
    assert len(PIXEL_GIF) == 43
    # One image descriptor, also 1x1, at the origin.
    descriptor = PIXEL_GIF.index(b",")
    left, top, image_width, image_height = struct.unpack(
        "<HHHH", PIXEL_GIF[descriptor + 1 : descriptor + 9]
    )
    assert (left, top, image_width, image_height) == (0, 0, 1, 1)


def test_pixel_is_transparent_and_never_cached() -> None:
    # Graphic Control Extension: transparency flag set.
    gce = PIXEL_GIF.index(b"!\xf9\x04")
    assert PIXEL_GIF[gce + 3] & 0x01 == 1
    assert PIXEL_HEADERS["Content-Type"] == "image/gif"
    assert "no-store" in PIXEL_HEADERS["Cache-Control"]


# -- pixel_open ------------------------------------------------------------------------------


def test_pixel_open_fact() -> None:
    fact = pixel_open(TARGET, MOMENT, "Mozilla/5.0 (iPhone)", "203.0.113.77", "GET", "req-123")
    assert fact.key == "px-req-123"
    assert fact.type == "open"
    assert fact.at == "2026-02-01T08:15:30.123Z"
    assert fact.recipient_id == TARGET.recipient_id
    assert fact.source == "pixel"
    assert fact.details == {
        "user_agent": "Mozilla/5.0 (iPhone)",
        "ip": "203.0.113.0/24",
        "method": "GET",
    }
    assert "203.0.113.77" not in repr(fact)


def test_pixel_open_without_request_id_gets_a_random_key() -> None:
    keys = {pixel_open(TARGET, MOMENT, None, None, "GET", None).key for _ in range(50)}
    assert len(keys) == 50
    assert all(k.startswith("px-") and len(k) == 3 + 16 for k in keys)


def test_pixel_open_same_request_id_same_key() -> None:
    first = pixel_open(TARGET, MOMENT, "UA", "203.0.113.77", "GET", "req-1")
    second = pixel_open(TARGET, MOMENT, "UA", "203.0.113.78", "HEAD", "req-1")
    assert first.key == second.key


@pytest.mark.parametrize("user_agent", [None, ""])
def test_pixel_open_without_user_agent(user_agent: str | None) -> None:
    fact = pixel_open(TARGET, MOMENT, user_agent, "bogus", "HEAD", "r")
    assert fact.details == {"user_agent": None, "ip": None, "method": "HEAD"}


def test_pixel_open_truncates_long_user_agents() -> None:
    fact = pixel_open(TARGET, MOMENT, "x" * (MAX_USER_AGENT + 100), None, "GET", "r")
    assert fact.details["user_agent"] == "x" * MAX_USER_AGENT
