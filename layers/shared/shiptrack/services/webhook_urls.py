"""Where a webhook may be sent: URL rules and address rules against server-side request forgery (SSRF).

An endpoint URL must be ``https``, carry no credentials or fragment, and its host must resolve **only** to public
unicast addresses: never loopback, private (RFC 1918, ULA), shared (CGNAT), link-local, multicast, reserved,
unspecified, documentation ranges or a cloud metadata address — for IPv4 and IPv6, and for IPv4 addresses
embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo).

The rules run twice: when an endpoint is registered or changed (a 422 tells the caller at once) and before every
delivery attempt, on a fresh resolution, because DNS can change after registration. The attempt then connects to
the very address that passed (:class:`Target`), so a second lookup cannot be made to answer something else (DNS
rebinding); redirects are never followed (docs/operations.md).

``allow_loopback`` (template parameter ``WebhookAllowLoopback``, off by default) admits loopback addresses, and
``http`` for them only, so ``make dev`` and the tests can deliver to a receiver on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from shiptrack.errors import FieldError, WebhookUrlNotAllowedError

__all__ = ["METADATA_ADDRESSES", "Resolver", "Target", "address_refusal", "check_url", "system_resolver"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port)`` → the addresses it resolves to (strings). Raises ``OSError`` when it does not resolve.
Resolver = Callable[[str, int], Sequence[str]]

#: Instance metadata services (AWS IPv4/IPv6 and ECS task metadata, GCP/Azure share 169.254.169.254, Alibaba).
#: Most are in refused ranges anyway; they are named so the refusal says why, and so a rule change cannot admit them.
METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
_DEFAULT_PORTS: Final = {"https": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed every rule, with the addresses it resolved to (all allowed): connect to ``address``."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.addresses[0]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (``getaddrinfo``, TCP), in the resolver's order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a webhook may not be sent to ``address`` (a short phrase), or ``None`` when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = address_refusal(embedded, allow_loopback=allow_loopback)
            return f"{reason} (embedded in {address})" if reason else None
    checks: list[tuple[bool, str]] = [
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback and not allow_loopback, "a loopback address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_loopback, ""),  # allowed loopback: none of the rules below apply to it
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    ]
    for refused, reason in checks:
        if refused:
            return reason or None
    return None


def _refuse(url: str, reason: str) -> WebhookUrlNotAllowedError:
    error = FieldError(loc=["body", "url"], msg=reason, type="url_not_allowed")
    return WebhookUrlNotAllowedError(f"The endpoint URL is not allowed: {reason}.", errors=[error])


def _parse(url: str, allow_loopback: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path-and-query) of a syntactically acceptable URL; raises the 422 otherwise."""
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _refuse(url, "it contains whitespace or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_loopback):
        raise _refuse(url, "it must be an https URL")
    if parts.username is not None or parts.password is not None:
        raise _refuse(url, "it must not carry credentials")
    if parts.fragment:
        raise _refuse(url, "it must not have a fragment")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
        host = (parts.hostname or "").rstrip(".")
        host.encode("idna")
    except (ValueError, UnicodeError):
        raise _refuse(url, "its host or port is not valid") from None
    if not host:
        raise _refuse(url, "it has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port, path


def _resolve(url: str, host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        resolved = [ipaddress.ip_address(address.split("%", 1)[0]) for address in resolver(host, port)]
    except (OSError, UnicodeError, ValueError):
        resolved = []
    if not resolved:
        raise _refuse(url, f"its host {host} does not resolve")
    return resolved


def check_url(url: str, *, allow_loopback: bool = False, resolver: Resolver = system_resolver) -> Target:
    """``url`` as a :class:`Target` when every rule passes; :class:`WebhookUrlNotAllowedError` (422) otherwise.

    Every address the host resolves to must be allowed (a name that also resolves to a private address is refused
    as a whole). ``http`` is accepted only with ``allow_loopback`` and only for a host that is loopback alone.
    """
    scheme, host, port, path = _parse(url, allow_loopback)
    addresses = _resolve(url, host, port, resolver)
    for address in addresses:
        reason = address_refusal(address, allow_loopback=allow_loopback)
        if reason:
            raise _refuse(url, f"{host} resolves to {address}, {reason}")
    if scheme == "http" and not all(address.is_loopback for address in addresses):
        raise _refuse(url, "it must be an https URL (http only for a loopback receiver)")
    return Target(url, scheme, host, port, path, tuple(str(address) for address in addresses))
