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
import threading
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import LocationParseError, NewConnectionError
from urllib3.util import parse_url
from urllib3.util.connection import create_connection

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
    """The host and port of a webhook URL exactly as the HTTP client will connect to them;
    TargetRefused for anything but http(s) with a host and no user-info.

    The URL is prepared by ``requests`` and split by ``urllib3``, the code that later opens
    the connection: a second parser would disagree on odd URLs (``http://a:1\\@b/`` is host
    ``b`` to ``urllib.parse`` but ``a`` to urllib3). User-info is refused outright, so that
    no URL reads as one host to a person and as another to the client.
    """
    try:
        seen_by_stdlib = urlsplit(url)
    except ValueError as error:
        raise TargetRefused(f"Not a valid URL: {error}.") from error
    if seen_by_stdlib.scheme not in SCHEMES:
        raise TargetRefused("Only http and https URLs can receive webhooks.")
    if not seen_by_stdlib.netloc:
        raise TargetRefused("The URL has no host name.")
    try:
        prepared = requests.models.PreparedRequest()
        prepared.prepare_url(url, None)
        parts = parse_url(prepared.url)
        stdlib_user = seen_by_stdlib.username, seen_by_stdlib.password
    except (requests.RequestException, LocationParseError, ValueError, UnicodeError) as error:
        raise TargetRefused(f"Not a valid URL: {error}.") from error
    if parts.scheme not in SCHEMES:
        raise TargetRefused("Only http and https URLs can receive webhooks.")
    if parts.auth is not None or any(part is not None for part in stdlib_user) or "\\" in url:
        raise TargetRefused(
            "The URL may not hold user-info ('name:password@') nor a backslash; put any "
            "credentials of the receiver in its path or query."
        )
    host = (parts.host or "").strip("[]")
    if not host:
        raise TargetRefused("The URL has no host name.")
    return host, parts.port or (443 if parts.scheme == "https" else 80)


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


# --- the guarded connection and the attempt's deadline -------------------------------------

#: The one text for a connection not made, whatever the reason: refused by the target, by
#: this guard, unreachable or timed out. Different texts would tell an open port from a
#: closed one to whoever reads the delivery log.
CONNECT_FAILED = "Connection error: could not connect to the receiver."

_current = threading.local()


class Deadline:
    """A wall-clock limit on one HTTP exchange: when it passes, every socket the exchange
    opened or reused is shut down, which ends a blocked connect, send or read at once.

    A socket timeout bounds each read, not the exchange: a receiver trickling a byte a second
    would otherwise hold the call for hours. Use as ``with Deadline(seconds) as deadline:``
    around the call and the reading of the answer; ``deadline.expired`` tells afterwards.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        _current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        _current.deadline = None

    def watch(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has passed)."""
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if not self.expired:
                return
        _shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing left to end


def _watch(sock) -> None:
    deadline = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _Watched:
    """Mixin for urllib3 connections: sockets are ended by the current :class:`Deadline`,
    new ones and ones reused from the pool alike."""

    def _new_conn(self):
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def getresponse(self, *args, **kwargs):
        _watch(getattr(self, "sock", None))
        return super().getresponse(*args, **kwargs)


class _PeerCheck(_Watched):
    """Mixin for urllib3 connections: connect only to an address vetted as public.

    The host is resolved here, every address it resolves to must be public, and the socket
    is opened to that vetted address (so DNS cannot answer differently between the check
    and the connection). Nothing non-public is ever connected to, so no answer depends on
    whether a port there is open.
    """

    def _new_conn(self):
        try:
            addresses = resolve(self._dns_host, self.port)
        except TargetRefused as error:
            raise NewConnectionError(self, CONNECT_FAILED) from error
        if not addresses or not all(is_public_address(address) for address in addresses):
            raise NewConnectionError(self, CONNECT_FAILED)
        # The vetted address, not the name: ``self.host`` stays the name (TLS SNI, Host).
        try:
            sock = create_connection(
                (addresses[0], self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except OSError as error:  # refused, unreachable, timed out: one message for all
            raise NewConnectionError(self, CONNECT_FAILED) from error
        _watch(sock)
        return sock


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _GuardedHTTPConnection(_PeerCheck, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_PeerCheck, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections obey the current :class:`Deadline` and, when
    ``guard``, connect to public addresses only."""

    def __init__(self, guard: bool = True, **kwargs):
        self.guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        # init_poolmanager runs inside HTTPAdapter.__init__, before or after ``guard`` is set.
        if getattr(self, "guard", True):
            pools = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
        else:
            pools = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        self.poolmanager.pool_classes_by_scheme = pools


def session(allow_private: bool) -> requests.Session:
    """A session for webhook calls: no proxies or ``.netrc`` credentials from the environment
    (a CA bundle named by ``REQUESTS_CA_BUNDLE`` is kept), calls bounded by the current
    :class:`Deadline`, and, unless ``allow_private``, connections to non-public peers
    refused."""
    http = requests.Session()
    # An environment proxy would make the peer check see the proxy, not the target.
    http.trust_env = False
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:  # still honour a site's own certificate authorities
        http.verify = bundle
    adapter = GuardedAdapter(guard=not allow_private)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http
