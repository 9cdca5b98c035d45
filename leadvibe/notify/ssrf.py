"""Destination guard for outbound webhooks (server-side request forgery).

A webhook URL is chosen by a tenant, but the request leaves from the appliance, which usually sits inside a
private network next to databases, admin consoles and a cloud metadata service. So a URL is only accepted when
every address it resolves to is a public unicast address, unless the operator explicitly allows private
destinations. The check runs twice: when the URL is saved (:func:`check_url`) and when connecting
(:func:`resolve_checked`, whose result the sender connects to directly, so a DNS answer that changes between
the check and the connection — DNS rebinding — cannot slip past).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

__all__ = [
    "MAX_URL_LENGTH",
    "DestinationRefused",
    "DestinationUnresolvable",
    "check_url",
    "is_forbidden_address",
    "parse_destination",
    "parse_ipv4_literal",
    "resolve_checked",
]

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(ValueError):
    """A webhook destination that must not be contacted; the message is one readable sentence."""


class DestinationUnresolvable(DestinationRefused):
    """The host name did not resolve. Unlike other refusals this may be transient (DNS hiccup), so a sender
    should retry it rather than give up on the destination."""


def _v4(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(cidr)


def _v6(cidr: str) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network(cidr)


# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack use 169.254.169.254; AWS Nitro also fd00:ec2::254; Alibaba
# 100.100.100.200). These are refused even when private destinations are allowed: no legitimate webhook
# receiver lives there, and reaching them hands out the host's cloud credentials.
_METADATA: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),
        ipaddress.IPv4Address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.IPv4Address("100.100.100.200"),
        ipaddress.IPv6Address("fd00:ec2::254"),
    }
)

# Ordered: the first match names the reason. Explicit tables rather than only the stdlib's
# is_private/is_global flags, because those flags have changed between Python patch releases; the
# stdlib is_global check below is a backstop for anything these tables miss.
_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_v4("255.255.255.255/32"), "broadcast address"),
    (_v4("0.0.0.0/32"), "unspecified address"),
    (_v4("0.0.0.0/8"), "'this network' address (0.0.0.0/8)"),
    (_v4("127.0.0.0/8"), "loopback address"),
    (_v4("10.0.0.0/8"), "private address"),
    (_v4("172.16.0.0/12"), "private address"),
    (_v4("192.168.0.0/16"), "private address"),
    (_v4("100.64.0.0/10"), "carrier-grade NAT address"),
    (_v4("169.254.0.0/16"), "link-local address"),
    (_v4("192.0.0.0/24"), "reserved address (IETF protocol assignments)"),
    (_v4("192.0.2.0/24"), "documentation address"),
    (_v4("198.51.100.0/24"), "documentation address"),
    (_v4("203.0.113.0/24"), "documentation address"),
    (_v4("198.18.0.0/15"), "reserved address (benchmarking)"),
    (_v4("192.88.99.0/24"), "reserved address (6to4 relay anycast)"),
    (_v4("224.0.0.0/4"), "multicast address"),
    (_v4("240.0.0.0/4"), "reserved address"),
)

_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_v6("::/128"), "unspecified address"),
    (_v6("::1/128"), "loopback address"),
    (_v6("fc00::/7"), "private address (unique local)"),
    (_v6("fe80::/10"), "link-local address"),
    (_v6("fec0::/10"), "site-local address"),
    (_v6("ff00::/8"), "multicast address"),
    (_v6("100::/64"), "reserved address (discard-only)"),
    (_v6("64:ff9b:1::/48"), "private address (local-use NAT64)"),
    (_v6("2001:db8::/32"), "documentation address"),
    (_v6("3fff::/20"), "documentation address"),
    # Teredo (2001::/32) sits in here: its embedded client address is obfuscated, so refuse the whole block.
    (_v6("2001::/23"), "reserved address (IETF protocol assignments)"),
)

_V6_GLOBAL_UNICAST = _v6("2000::/3")
_NAT64_WKP = _v6("64:ff9b::/96")
_SIIT_TRANSLATED = _v6("::ffff:0:0:0/96")
_IPV4_COMPATIBLE = _v6("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for the forms that route to that IPv4 host."""
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48
        return ip.sixtofour
    if ip in _NAT64_WKP or ip in _SIIT_TRANSLATED or ip in _IPV4_COMPATIBLE:
        # NAT64 well-known prefix, SIIT "IPv4-translated" and deprecated "IPv4-compatible" (::a.b.c.d) all
        # keep the IPv4 address in the low 32 bits. (:: and ::1 are caught by the rules before this.)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` must not be a webhook destination (e.g. ``"private address"``), or None if it is public."""
    if ip in _METADATA:
        return "cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            # A zone index only makes sense for link-local targets; compare the bare address.
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
            if ip in _METADATA:
                return "cloud metadata address"
        for net6, reason in _V6_RULES:
            if ip in net6:
                return reason
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = is_forbidden_address(embedded)
            if inner is not None:
                return f"{inner} embedded in IPv6 ({embedded})"
            return None
        if ip not in _V6_GLOBAL_UNICAST:
            return "reserved address"
        if not ip.is_global:
            return "non-public address"
        return None
    for net4, reason in _V4_RULES:
        if ip in net4:
            return reason
    if not ip.is_global:
        return "non-public address"
    return None


def parse_destination(url: str) -> tuple[str, str, int, str]:
    """Split a webhook URL into ``(scheme, host, port, path_and_query)`` or raise :class:`DestinationRefused`.

    ``host`` is lower-cased and has no brackets (IPv6 literals come back bare); the fragment is dropped (it is
    never sent); an empty path becomes ``/``.
    """
    if not isinstance(url, str) or not url.strip():
        raise DestinationRefused("webhook URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"webhook URL is longer than {MAX_URL_LENGTH} characters")
    # Control characters and spaces are how request splitting and parser confusion start; no valid URL
    # has them.
    if re.search(r"[\x00-\x20\x7f]", url):
        raise DestinationRefused("webhook URL must not contain spaces or control characters")
    if "\\" in url:
        # Browsers and some parsers treat a backslash as a slash, others do not: an ambiguity worth refusing.
        raise DestinationRefused("webhook URL must not contain backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise DestinationRefused(f"webhook URL is malformed ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused("webhook URL must be http or https")
    if "@" in parts.netloc:
        raise DestinationRefused("webhook URL must not contain a user name or password")
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused("webhook URL must name a host")
    try:
        port = parts.port
    except ValueError:
        raise DestinationRefused("webhook URL has an invalid port") from None
    if port is None:
        port = 443 if scheme == "https" else 80
    if not 1 <= port <= 65535:
        raise DestinationRefused("webhook URL has an invalid port")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port, path


_NUMERIC_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """Parse ``host`` the way ``inet_aton`` does (``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1``).

    The C resolver accepts these shorthand forms and connects to the address they denote, so the guard must
    see through them itself rather than trust a canonical-form parser. Returns None when ``host`` is not
    such a literal.
    """
    text = host[:-1] if host.endswith(".") else host
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values: list[int] = []
    for p in parts:
        if p[:2].lower() == "0x":
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            if any(c in "89" for c in p):
                return None  # not valid octal; inet_aton rejects it too
            values.append(int(p, 8))
        else:
            values.append(int(p))
    # The last part fills all remaining bytes: a.b.c.d, a.b.(16 bits), a.(24 bits), (32 bits).
    *head, last = values
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = 0
    for v in head:
        number = (number << 8) | v
    number = (number << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(number)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return parse_ipv4_literal(host)


def _refused_here(reason: str | None, allow_private: bool) -> bool:
    # Metadata endpoints stay refused even when private destinations are allowed (see _METADATA).
    return reason is not None and (not allow_private or reason.startswith("cloud metadata address"))


def _refuse(ip_text: str, reason: str) -> DestinationRefused:
    return DestinationRefused(f"webhook URL resolves to a {reason} ({ip_text})")


async def resolve_checked(host: str, port: int, allow_private: bool) -> list[str]:
    """Resolve ``host`` and return its addresses, refusing if ANY of them is forbidden.

    Refusing on any (rather than filtering to the good ones) matters: a name answering both a public and a
    private address is a rebinding setup. With ``allow_private`` every address is accepted except cloud
    metadata endpoints, which are never a webhook receiver. Raises :class:`DestinationRefused`, or
    :class:`DestinationUnresolvable` when the name does not resolve.
    """
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if not name:
        raise DestinationRefused("webhook URL must name a host")

    literal = _literal_address(name)
    if literal is not None:
        reason = is_forbidden_address(literal)
        if reason is not None and _refused_here(reason, allow_private):
            raise _refuse(str(literal), reason)
        # Resolve to the canonical text ourselves so the caller connects to exactly what was checked.
        return [str(literal)]

    bare = name.rstrip(".")
    if not bare:
        raise DestinationRefused("webhook URL must name a host")
    # RFC 6761: "localhost" and anything under it is loopback by definition, whatever /etc/hosts or DNS say
    # (and "localhost." does not resolve everywhere, which must not turn into a bypass elsewhere).
    if bare == "localhost" or bare.endswith(".localhost"):
        if not allow_private:
            raise DestinationRefused(f"webhook URL resolves to a loopback address ({bare})")
        name = "localhost"

    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise DestinationUnresolvable(f"webhook host {bare} could not be resolved ({exc})") from None

    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0])
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise DestinationRefused(f"webhook host {bare} resolved to an unusable address") from None
        reason = is_forbidden_address(ip)
        if reason is not None and _refused_here(reason, allow_private):
            raise _refuse(str(ip), reason)
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise DestinationUnresolvable(f"webhook host {bare} resolved to no addresses")
    return addresses


async def check_url(url: str, allow_private: bool) -> None:
    """The save-time check: the URL parses, and everything it resolves to may be contacted.

    Raises :class:`DestinationRefused` with a message fit for the API's ``{"error": ...}``.
    """
    _scheme, host, port, _path = parse_destination(url)
    await resolve_checked(host, port, allow_private)
