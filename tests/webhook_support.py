"""Helpers of the webhook tests: a fake DNS and an independent Standard Webhooks verifier.

The verifier is written from the specification (standardwebhooks.com), not from the code
under test, so that a mistake in ``registry.delivery.sign`` cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
from urllib.parse import parse_qs, urlsplit

#: A global unicast address that the fake DNS answers for any name it was not told about.
PUBLIC_ADDRESS = "93.184.215.14"


class FakeDNS:
    """Replaces ``socket.getaddrinfo``: names resolve to what ``records`` says, IP literals
    to themselves, other names to :data:`PUBLIC_ADDRESS`; ``None`` means NXDOMAIN."""

    def __init__(self):
        self.records: dict[str, str | None] = {}

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            address = self.records.get(host, PUBLIC_ADDRESS)
        if address is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]


def verify_standard_webhook(secret: str, headers, body: bytes) -> bool:
    """Standard Webhooks verification, as a receiver would write it."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed_content = b".".join(
        [headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), body]
    )
    expected = base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest())
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected):
            return True
    return False


def verify_dingtalk_url(url: str, robot_secret: str) -> bool:
    """DingTalk's check of a signed robot URL (its documentation's algorithm)."""
    query = parse_qs(urlsplit(url).query)
    timestamp = query["timestamp"][0]
    string_to_sign = f"{timestamp}\n{robot_secret}"
    digest = hmac.new(robot_secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()
    # parse_qs already URL-decoded the sign.
    return query["sign"][0] == base64.b64encode(digest).decode()
