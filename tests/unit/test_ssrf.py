"""SSRF (issue 15, finding 10): every non-global address is refused however it is
spelled — numeric shorthand, octal, hex, a trailing dot, IPv4 inside IPv6 — when a
webhook is registered and again on what its host resolves to when delivering."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.webhook_http import HttpWebhookPoster
from chalicelib.core.ssrf import address_problem, url_problem

pytestmark = pytest.mark.disable_socket

SPELLED_INSIDE = [
    "https://127.1/hook",
    "https://0x7f.1/hook",
    "https://0177.0.0.1/hook",
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0xa9.0xfe.0xa9.0xfe/latest/meta-data",
    "https://169.254.169.254.nip.io.1/x",
    "https://localhost./hook",
    "https://hooks.example.com./hook",
    "https://metadata.google.internal./x",
    "https://%31%32%37.0.0.1/hook",
    "https://[::127.0.0.1]/hook",
    "https://[::a9fe:a9fe]/hook",
    "https://[64:ff9b::a9fe:a9fe]/hook",
    "https://[64:ff9b::7f00:1]/hook",
    "https://[64:ff9b:1::a00:1]/hook",
    "https://[2002:a9fe:a9fe::]/hook",
    "https://[2002:7f00:1::1]/hook",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",
    "https://[::ffff:0:7f00:1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[::]/hook",
    "https://[fe80::1%25eth0]/hook",
    "https://[ff02::1]/hook",
]
EMBEDDED_INSIDE = [
    "::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a00:1",
    "2002:a9fe:a9fe::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "::ffff:0:a9fe:a9fe",
    "::ffff:169.254.169.254",
    "fe80::1%eth0",
]


@pytest.mark.parametrize("url", SPELLED_INSIDE)
def test_registration_refuses_every_spelling_of_an_inside_address(url: str) -> None:
    assert url_problem(url, "prod") is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/sobre",
        "https://93.184.216.34:8443/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://[64:ff9b::5db8:d822]/hook",  # NAT64 of 93.184.216.34
        "https://[::ffff:93.184.216.34]/hook",
        "https://[2002:5db8:d822::1]/hook",  # 6to4 of 93.184.216.34
        "https://bücher.example/hook",
        "https://my_hooks.example.com/x",
    ],
)
def test_public_addresses_however_written_are_taken(url: str) -> None:
    assert url_problem(url, "prod") is None


@pytest.mark.parametrize("address", EMBEDDED_INSIDE)
def test_delivery_refuses_an_inside_address_carried_in_ipv6(address: str) -> None:
    assert address_problem([address], "prod") is not None
    assert address_problem(["93.184.216.34", address], "prod") is not None


@pytest.mark.parametrize("address", EMBEDDED_INSIDE)
def test_a_name_resolving_to_an_embedded_inside_address_is_never_connected(address: str) -> None:
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return [address]

    # disable_socket: a connection attempt would raise instead of answering a result.
    result = HttpWebhookPoster("prod", resolver=resolver).post(
        "https://hooks.example.com/x", b"{}", {}
    )
    assert asked == [("hooks.example.com", 443)]
    assert result.status_code is None
    assert result.error is not None
    assert "private, loopback or reserved" in result.error


@pytest.mark.parametrize("url", ["https://127.1/x", "https://0x7f.1/x", "https://localhost./x"])
def test_delivery_refuses_shorthand_before_resolving(url: str) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise AssertionError(f"resolved {host}")

    result = HttpWebhookPoster("prod", resolver=resolver).post(url, b"{}", {})
    assert result.error is not None
    assert result.error.startswith("URL not allowed")


def test_the_local_stage_still_takes_its_loopback_receiver() -> None:
    assert url_problem("http://127.0.0.1:8080/hook", "local") is None
    assert address_problem(["127.0.0.1"], "local") is None
    assert url_problem("http://127.1:8080/hook", "local") is not None


@pytest.mark.parametrize("url", ["https://[::1", "https://exa mple.com/", "https://-x.example/"])
def test_malformed_hosts_are_problems_not_errors(url: Any) -> None:
    assert url_problem(url, "prod") is not None
