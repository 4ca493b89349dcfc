"""What Sobre keeps of a fetch's origin: never an address, only its network (IPv4 /24,
IPv6 /48), and a user agent of bounded length. Pure; applied before anything is
stored."""

from __future__ import annotations

import ipaddress
import re

MAX_USER_AGENT = 512


def truncate_ip(address: str | None) -> str | None:
    """The network an address belongs to, never the address: IPv4 /24, IPv6 /48."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def clip_user_agent(user_agent: str | None) -> str | None:
    """The user agent as stored: at most MAX_USER_AGENT characters, None when empty."""
    return (user_agent or "")[:MAX_USER_AGENT] or None


# IP-shaped literals anywhere in a text: dotted quads (leading zeros too) and runs of
# hex digits and colons (with an optional dotted tail) that parse as IPv6.
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d])")
_IPV6 = re.compile(
    r"(?<![0-9A-Za-z:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}"
)


def network_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The network address (host bits zeroed, no prefix length): what a kept payload
    holds in place of an address, so that replaying it truncates to the same network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _ipv4(found: re.Match[str]) -> str:
    octets = [int(part) for part in found.groups()]
    if any(o > 255 for o in octets):
        return found.group(0)
    return f"{octets[0]}.{octets[1]}.{octets[2]}.0"


def _ipv6(found: re.Match[str]) -> str:
    try:
        address = ipaddress.IPv6Address(found.group(0))
    except ValueError:
        return found.group(0)
    return network_of(address)


def scrub_ips(text: str) -> str:
    """``text`` with every IPv4 and IPv6 literal in it replaced by its network (IPv4
    /24, IPv6 /48, as ``truncate_ip`` keeps them): for what is kept or raised whole,
    such as an unprocessable payload. Idempotent."""
    return _IPV4.sub(_ipv4, _IPV6.sub(_ipv6, text))
