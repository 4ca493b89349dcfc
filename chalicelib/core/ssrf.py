"""What a webhook may point to (SSRF): https only, never a non-global address outside
the local stage; checked when a webhook is registered (``url_problem``) and again on
what its host resolves to when delivering (``address_problem``). Pure.

Addresses are judged by where they lead, not by how they are spelled:

* **IPv4 in disguise.** ``127.1``, ``0x7f.1``, ``0177.0.0.1``, ``2130706433``: the
  resolver (inet_aton) reads numeric shorthand, octal and hex, so a host whose last
  label is numeric (no top-level domain is) is refused unless it is a canonical
  dotted quad, which is then judged like any address.
* **IPv4 inside IPv6.** IPv4-mapped (``::ffff:a.b.c.d``), IPv4-translated
  (``::ffff:0:a.b.c.d``), NAT64 (``64:ff9b::/96`` and the local-use ``64:ff9b:1::/48``),
  6to4 (``2002::/16``) and Teredo (``2001::/32``, server and client) are judged by the
  IPv4 address they carry (and a tunnel's own IPv6 address must be global as well);
  IPv4-compatible (``::a.b.c.d``, deprecated, never routed) is refused.
* **Names.** A trailing dot (``localhost.``) is refused, as are ``localhost``,
  ``*.localhost``, ``*.local``, ``*.internal``, single labels and anything that is not
  letters, digits, ``-`` and ``_`` between dots (IDNA for the rest).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

from chalicelib.core.webhooks import MAX_URL_LENGTH

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NOT_GLOBAL = "must not point to a private, loopback or reserved address"
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")  # fullmatch: inet_aton reads it
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")  # fullmatch
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to (none when it carries none)."""
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)
    if any(address in net for net in _NAT64):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


def _address_allowed(address: IPAddress, local: bool) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if local and address.is_loopback:
            return True
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is that IPv4 address
            return _address_allowed(address.ipv4_mapped, local)
        if address in _TRANSLATED:  # ::ffff:0:a.b.c.d, likewise
            return _address_allowed(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), local)
        if address in _COMPATIBLE:  # ::, ::1 and the deprecated ::a.b.c.d
            return False
        # A tunnel or translator reaches the address it carries: both must be global.
        if not all(_address_allowed(v4, local=False) for v4 in _embedded(address)):
            return False
    elif local and address.is_loopback:
        return True
    return address.is_global and not address.is_multicast


def url_problem(url: Any, stage: str) -> str | None:
    """Why ``url`` may not be a webhook, or None. https only; outside the local stage,
    never a non-global address, however spelled (SSRF). The local stage also allows
    http://127.0.0.1 (a receiver on the developer's machine)."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        return f"must be an absolute https URL of at most {MAX_URL_LENGTH} characters"
    local = stage == "local"
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:  # an unbalanced "[" in the netloc
        return "must be an absolute https URL"
    return _shape_problem(parts, host, local) or _host_problem(host, local)


def _shape_problem(parts: SplitResult, host: str, local: bool) -> str | None:
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return "has a bad port"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    if not host:
        return "must name a host"
    scheme = parts.scheme.lower()
    if scheme == "http" and not (local and host == "127.0.0.1"):
        return "must use https" + (" (or http://127.0.0.1 on the local stage)" if local else "")
    if scheme not in ("http", "https"):
        return "must use https"
    return None


def _host_problem(host: str, local: bool) -> str | None:
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return None if _address_allowed(literal, local) else _NOT_GLOBAL
    if host.endswith("."):
        return "must not end with a dot"
    name = _ascii_name(host)
    if name is None:
        return "must be a host name (letters, digits, '-' between dots) or an IP address"
    labels = name.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # The resolver reads it as an IPv4 address (in whatever base each part is
        # in); a canonical a.b.c.d was an address literal above, so this is not one.
        return "must write an IPv4 address as four decimal numbers (a.b.c.d)"
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return _NOT_GLOBAL
    if len(labels) < 2:
        return "must name a public host"
    return None


def _ascii_name(host: str) -> str | None:
    """``host`` as the resolver gets it (IDNA), or None when it is not a host name."""
    try:
        name = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    return name


def address_problem(addresses: list[str], stage: str) -> str | None:
    """Checked again when delivering, on what the host name resolves to now: a name
    that resolved to a public address when registered may not point inside later."""
    if not addresses:
        return "the host name does not resolve"
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return f"the host resolves to an unusable address {text!r}"
        if not _address_allowed(address, stage == "local"):
            return f"the host resolves to a private, loopback or reserved address ({address})"
    return None
