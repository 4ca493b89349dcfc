"""What Sobre keeps of a fetch's origin: never an address, only its network (IPv4 /24,
IPv6 /48), and a user agent of bounded length. Pure; applied before anything is
stored."""

from __future__ import annotations

import ipaddress

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
