"""Where a webhook URL really points: its host name resolved, refused when any address is internal.

Where it sits: called by tenant set-up (:func:`engine.admin.tenant_setup.configure`) when a webhook URL is
saved, and by each delivery attempt (:func:`engine.webhooks.delivery.httpx_post`) just before it connects,
so a name that resolved to a public address at save time and to an internal one later (DNS rebinding) is
refused then too. The attempt connects to the very address it checked (the URL's host name still names the
platform in the ``Host`` header and in TLS, so the certificate is verified for that name).

:func:`policies.webhooks._internal_address` already refuses IP literals; this module adds what needs I/O.
Internal means private, loopback, link-local (the cloud metadata address ``169.254.169.254``), reserved,
multicast or unspecified, for every address the name resolves to (IPv4 and IPv6).

The one allowance, explicit twice (in the URL and in the process's settings): a plain ``http://`` URL naming
``localhost``, ``127.0.0.1`` or ``::1`` (:data:`policies.webhooks.LOCAL_HOSTS`, :func:`loopback`) is a
receiver on the same machine (development, the demo, the test suite's receiver) and is not resolved, but
only when ``MUSTER_WEBHOOKS_ALLOW_LOOPBACK`` is on (``allow_loopback``); otherwise it is refused
(:class:`LoopbackRefused`) on save and by every delivery, which parks it. Every other URL is ``https://``
and is checked.

A name that does not resolve (yet) is accepted on save and checked again by every attempt (which then
fails and is retried, with the resolver's answer as the reason).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from policies.webhooks import LOCAL_HOSTS

#: ``(host, port) -> addresses``; raises ``OSError`` when the name does not resolve.
Resolver = Callable[[str, int], "list[str]"]

#: Seconds a save waits for the resolver before accepting the URL (each delivery checks it again).
SAVE_TIMEOUT_S = 3.0


def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo``): every address of ``host``, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


_resolver: Resolver = system_resolve


def set_resolver(resolver: Resolver | None) -> None:
    """Use ``resolver`` for host names (None: the system's). For tests, which have no DNS of their own."""
    global _resolver
    _resolver = resolver or system_resolve


def internal(address: str) -> bool:
    """Is ``address`` (an IP) one Muster's workers must not be pointed at?"""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast \
        or ip.is_unspecified


class AddressRefused(ValueError):
    """The URL's host name resolves to an internal address; the message names it and the fix."""


class LoopbackRefused(AddressRefused):
    """A plain ``http://`` loopback URL while ``MUSTER_WEBHOOKS_ALLOW_LOOPBACK`` is off."""


#: Why a loopback URL is refused: the setting that allows it, and the fix.
LOOPBACK_REFUSED = (
    "{url} points at Muster's own machine (loopback): refused unless MUSTER_WEBHOOKS_ALLOW_LOOPBACK=1 is set "
    "for this deployment (development, the demo, tests); use the platform's public https:// URL"
)


def loopback(url: str) -> bool:
    """Pure: is ``url`` a plain ``http://`` URL naming the loopback host (the same-machine allowance)?"""
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "").lower() in LOCAL_HOSTS


class NotResolved(OSError):
    """The URL's host name does not resolve (or the resolver did not answer in time)."""


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL as configured, and the checked address to connect to (None: the
    URL's host is the same-machine allowance, or an IP literal the policy already checked)."""

    url: str
    host: str
    port: int
    address: str | None


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check(url: str, *, allow_loopback: bool, resolver: Resolver | None = None) -> Target:
    """Resolve ``url``'s host name and refuse it when any of its addresses is internal; a loopback URL
    (:func:`loopback`) is accepted, unresolved, only with ``allow_loopback``.

    Raises :class:`AddressRefused` (internal; :class:`LoopbackRefused` for the loopback URL) or
    :class:`NotResolved` (no answer)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if loopback(url):
        if not allow_loopback:
            raise LoopbackRefused(LOOPBACK_REFUSED.format(url=url))
        return Target(url, host, port, None)
    if _literal(host):
        return Target(url, host, port, None)
    try:
        addresses = (resolver or _resolver)(host, port)
    except OSError as exc:
        raise NotResolved(f"{host} does not resolve ({exc})") from exc
    if not addresses:
        raise NotResolved(f"{host} does not resolve (no address)")
    bad = [a for a in addresses if internal(a)]
    if bad:
        raise AddressRefused(
            f"{host} resolves to {', '.join(bad)}, an internal address (private, loopback or link-local): "
            "Muster does not send webhooks into its own network; use the platform's public host name"
        )
    return Target(url, host, port, addresses[0])


def check_on_save(url: str, *, allow_loopback: bool) -> None:
    """The save-time check: raises :class:`AddressRefused`; a name that does not resolve within
    :data:`SAVE_TIMEOUT_S` is accepted (every delivery checks it again)."""
    if loopback(url):
        check(url, allow_loopback=allow_loopback)
        return
    resolver = _resolver
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(check, url, allow_loopback=allow_loopback, resolver=resolver)
        try:
            future.result(timeout=SAVE_TIMEOUT_S)
        except (NotResolved, concurrent.futures.TimeoutError):
            return
    finally:
        pool.shutdown(wait=False)
