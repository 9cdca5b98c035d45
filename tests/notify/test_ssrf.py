from __future__ import annotations

import ipaddress

import pytest

from leadvibe.notify.ssrf import (
    DestinationRefused,
    DestinationUnresolvable,
    check_url,
    is_forbidden_address,
    parse_destination,
    parse_ipv4_literal,
    resolve_checked,
)

# --- parse_destination --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example.com/in?x=1#frag", ("https", "hooks.example.com", 443, "/in?x=1")),
        ("http://Hooks.Example.COM", ("http", "hooks.example.com", 80, "/")),
        ("HTTPS://example.com:8443/a/b", ("https", "example.com", 8443, "/a/b")),
        ("http://[2606:4700::1111]:8080/x", ("http", "2606:4700::1111", 8080, "/x")),
    ],
)
def test_parse_destination_accepts(url: str, expected: tuple[str, str, int, str]) -> None:
    assert parse_destination(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "must be http or https"),
        ("file:///etc/passwd", "must be http or https"),
        ("gopher://example.com", "must be http or https"),
        ("example.com/hook", "must be http or https"),
        ("http:///path", "must name a host"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://user@example.com/", "user name or password"),
        ("https://example.com:99999/", "invalid port"),
        ("https://example.com:abc/", "invalid port"),
        ("https://example.com/a b", "spaces or control characters"),
        ("https://example.com/\r\nX-Injected: 1", "spaces or control characters"),
        ("https://example.com\\@evil.com/", "backslashes"),
        ("https://example.com/" + "a" * 2100, "longer than 2048"),
        ("", "is required"),
    ],
)
def test_parse_destination_refuses(url: str, message: str) -> None:
    with pytest.raises(DestinationRefused, match=message):
        parse_destination(url)


def test_refusal_is_a_value_error() -> None:
    assert issubclass(DestinationRefused, ValueError)


# --- is_forbidden_address -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.255", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("fe80::1", "link-local"),
        ("fd00:ec2::254", "metadata"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated)
        ("2002:7f00:1::", "loopback"),  # 6to4 embedding 127.0.0.1
        ("2002:c0a8:0101::1", "private"),  # 6to4 embedding 192.168.1.1
        ("64:ff9b::10.0.0.1", "private"),  # NAT64 embedding 10.0.0.1
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("2001::1", "reserved"),  # Teredo
        ("::ffff:0:7f00:1", "loopback"),  # SIIT IPv4-translated
        ("100::1", "discard"),
        ("4000::1", "reserved"),  # outside 2000::/3 global unicast
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    result = is_forbidden_address(ipaddress.ip_address(address))
    assert result is not None, address
    assert reason in result


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:0808:0808::1",
    ],
)
def test_public_addresses_allowed(address: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address)) is None


# --- non-canonical literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "canonical"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0177.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("8.8.8.8", "8.8.8.8"),
    ],
)
def test_parse_ipv4_literal(literal: str, canonical: str) -> None:
    assert parse_ipv4_literal(literal) == ipaddress.IPv4Address(canonical)


@pytest.mark.parametrize(
    "text", ["example.com", "1.2.3.4.5", "256.1.1.1", "09.1.1.1", "4294967296", "1..1", ""]
)
def test_parse_ipv4_literal_rejects(text: str) -> None:
    assert parse_ipv4_literal(text) is None


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "[::ffff:127.0.0.1]",
        "::ffff:127.0.0.1",
        "[::1]",
        "localhost",
        "localhost.",
        "LOCALHOST",
        "api.localhost",
        "0.0.0.0",
        "0",
        "10.0.0.5",
        "169.254.169.254",
        "0xa9fea9fe",  # 169.254.169.254
    ],
)
async def test_resolve_checked_refuses_loopback_and_private_forms(host: str) -> None:
    with pytest.raises(DestinationRefused, match="webhook URL resolves to a"):
        await resolve_checked(host, 80, allow_private=False)


async def test_refusal_message_names_the_address() -> None:
    with pytest.raises(DestinationRefused) as info:
        await resolve_checked("10.0.0.5", 443, allow_private=False)
    assert str(info.value) == "webhook URL resolves to a private address (10.0.0.5)"


async def test_resolve_checked_returns_canonical_addresses() -> None:
    assert await resolve_checked("127.1", 80, allow_private=True) == ["127.0.0.1"]
    mapped = await resolve_checked("[::ffff:127.0.0.1]", 80, allow_private=True)
    assert [ipaddress.ip_address(a) for a in mapped] == [ipaddress.ip_address("::ffff:127.0.0.1")]
    assert await resolve_checked("8.8.8.8", 80, allow_private=False) == ["8.8.8.8"]
    assert "127.0.0.1" in await resolve_checked("LOCALHOST.", 80, allow_private=True)


async def test_resolve_checked_uses_getaddrinfo_and_refuses_if_any_address_is_forbidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio
    import socket

    answers = {
        "mixed.example": ["93.184.215.14", "10.0.0.7"],
        "public.example": ["93.184.215.14", "2606:4700::1111"],
    }

    async def fake_getaddrinfo(self: object, host: str, port: int, **_: object) -> list[tuple]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for a in answers[host]:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            sockaddr = (a, port, 0, 0) if fam == socket.AF_INET6 else (a, port)
            out.append((fam, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(DestinationRefused, match=r"private address \(10\.0\.0\.7\)"):
        await resolve_checked("mixed.example", 443, allow_private=False)
    assert await resolve_checked("mixed.example", 443, allow_private=True) == ["93.184.215.14", "10.0.0.7"]
    assert await resolve_checked("public.example", 443, allow_private=False) == [
        "93.184.215.14",
        "2606:4700::1111",
    ]
    with pytest.raises(DestinationUnresolvable, match="could not be resolved"):
        await resolve_checked("nowhere.example", 443, allow_private=False)
    await check_url("https://public.example/hook", allow_private=False)
    with pytest.raises(DestinationRefused):
        await check_url("https://mixed.example/hook", allow_private=False)


async def test_allow_private_permits_private_but_never_metadata() -> None:
    assert await resolve_checked("10.0.0.5", 80, allow_private=True) == ["10.0.0.5"]
    with pytest.raises(DestinationRefused, match="metadata"):
        await resolve_checked("169.254.169.254", 80, allow_private=True)
    with pytest.raises(DestinationRefused, match="metadata"):
        await resolve_checked("[::ffff:169.254.169.254]", 80, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1:8080/x",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost./",
        "http://LOCALHOST/",
        "http://[::1]:9000/",
        "https://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_check_url_refuses(url: str) -> None:
    with pytest.raises(DestinationRefused):
        await check_url(url, allow_private=False)


async def test_check_url_refuses_bad_scheme_before_resolving() -> None:
    with pytest.raises(DestinationRefused, match="must be http or https"):
        await check_url("ftp://8.8.8.8/", allow_private=True)


async def test_check_url_allows_local_when_allowed() -> None:
    await check_url("http://127.0.0.1:8080/hook", allow_private=True)
    await check_url("http://localhost:8080/hook", allow_private=True)
