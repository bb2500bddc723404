"""Outbound HTTP for webhooks, kept off internal hosts.

A token holder who may create a webhook must not be able to make the service call the
machines around it (SSRF). Target URLs are http/https only, and every address the host name
resolves to must be a global one — checked when the subscription is written, again right
before each delivery, and a third time on the socket actually connected (so a DNS answer
that changes between the check and the connection cannot slip through). Setting
``REGISTRY_WEBHOOK_ALLOW_PRIVATE=1`` lifts the address checks (a receiver on the same
machine or network during development).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

SCHEMES = ("http", "https")


class TargetRefused(ValueError):
    """A URL the service will not call; the message says why."""


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is a global unicast address.

    Loopback, private (RFC 1918, ULA), link-local, shared (CGNAT), reserved, multicast and
    unspecified addresses are not; IPv4-mapped IPv6 addresses are judged by their IPv4 part.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def split_target(url: str) -> tuple[str, int]:
    """The host and port of a webhook URL; TargetRefused for anything but http(s) with a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"Not a valid URL: {error}.") from error
    if parts.scheme not in SCHEMES:
        raise TargetRefused("Only http and https URLs can receive webhooks.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host name.")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:
        raise TargetRefused(f"The host {host} does not resolve ({error}).") from error
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_target(url: str, allow_private: bool) -> None:
    """Refuse (TargetRefused) a URL that is not http(s), or that resolves to any non-global
    address unless ``allow_private``."""
    host, port = split_target(url)
    if allow_private:
        return
    for address in resolve(host, port):
        if not is_public_address(address):
            raise TargetRefused(
                f"The host {host} resolves to {address}, a loopback, private, link-local or "
                "otherwise non-public address; webhooks may not call internal hosts."
            )


# --- the guarded connection -------------------------------------------------------------


class _PeerCheck:
    """Mixin for urllib3 connections: refuse a socket connected to a non-public peer."""

    def _new_conn(self):
        sock = super()._new_conn()
        peer = sock.getpeername()[0]
        if not is_public_address(peer):
            sock.close()
            raise NewConnectionError(
                self, f"Refused: {self.host} is connected to the non-public address {peer}."
            )
        return sock


class _GuardedHTTPConnection(_PeerCheck, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_PeerCheck, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections refuse non-public peers."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPPool,
            "https": _GuardedHTTPSPool,
        }


def session(allow_private: bool) -> requests.Session:
    """A session for webhook calls: no proxies or ``.netrc`` credentials from the environment
    (a CA bundle named by ``REQUESTS_CA_BUNDLE`` is kept), and, unless ``allow_private``,
    connections to non-public peers refused."""
    http = requests.Session()
    # An environment proxy would make the peer check see the proxy, not the target.
    http.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:  # still honour a site's own certificate authorities
        http.verify = bundle
    if not allow_private:
        adapter = GuardedAdapter()
        http.mount("http://", adapter)
        http.mount("https://", adapter)
    return http
