"""Where a party may ask to be told: the rules for a webhook endpoint's URL and an e-mail address.

A webhook URL is somewhere cyberins will POST signed events to, from inside its own network. So it is
https to a public host: an IP literal in a private, link-local, shared, multicast, reserved or
unspecified range would let a party make cyberins call its neighbours. Loopback (and plain http to
it) is for development only. A host name is not resolved here: what it resolves to at delivery time
is the delivering side's concern.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_URL = 2048
MAX_ADDRESS = 320
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_endpoint_url(url: str, *, http_loopback: bool) -> str:
    """The URL if cyberins may deliver to it; ValueError saying why not otherwise."""
    if len(url) > MAX_URL:
        raise ValueError(f"a webhook URL may be at most {MAX_URL} characters")
    if _CONTROL_OR_SPACE.search(url):
        raise ValueError("a webhook URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as error:
        raise ValueError(f"not a usable URL: {error}") from None
    scheme = parts.scheme.lower()
    if not scheme or not parts.netloc:
        raise ValueError("give an absolute URL, such as https://receiver.example.com/webhooks")
    if scheme not in ("https", "http"):
        raise ValueError("a webhook URL must use https")
    if "@" in parts.netloc:
        raise ValueError("a webhook URL may not carry a user name or password; authenticate by its signature")
    if "#" in url:
        raise ValueError("a webhook URL may not have a fragment (#…): it is never sent")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError("a webhook URL needs a host")
    if port == 0:
        raise ValueError("port 0 is no port to deliver to")
    address = _ip_literal(host)
    loopback = address.is_loopback if address is not None else host in LOOPBACK_NAMES
    if scheme == "http" and not (http_loopback and loopback):
        raise ValueError(
            "a webhook URL must use https"
            + ("" if http_loopback else " (http only to loopback, in development)")
        )
    if loopback:
        if not http_loopback:
            raise ValueError("a loopback host receives webhooks only in development")
        return url
    if address is not None:
        _refuse_internal(address)
    elif not all(_HOST_LABEL.match(label) for label in _ascii_host(host).split(".")):
        raise ValueError("the host is not a valid domain name")
    return url


def check_delivery_address(address: str) -> None:
    """At delivery: the address a host name resolved to must be public too, or a name registered while
    public could later point the service at its own network (ValueError saying why)."""
    parsed = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed.is_loopback:
        raise ValueError("the host resolves to a loopback address: webhooks go to public hosts only")
    _refuse_internal(parsed)


def _ip_literal(host: str) -> IpAddress | None:
    """The address a host names literally. Numeric forms other than four dotted decimals (2130706433,
    0x7f.1, 127.1) are refused: resolvers read them as addresses, so they could hide one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if _NUMERIC_LABEL.match(host.rsplit(".", 1)[-1]):
            raise ValueError("write an IPv4 address as four decimal numbers, such as 203.0.113.7") from None
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _refuse_internal(address: IpAddress) -> None:
    for kind, inside in (
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if inside:
            raise ValueError(f"the host is a {kind} address: webhooks go to public hosts only")
    if not address.is_global:  # shared (100.64/10), documentation and benchmarking ranges
        raise ValueError("the host is not a public address: webhooks go to public hosts only")


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("the host is not a valid domain name") from None


def check_email_address(address: str) -> str:
    """The address with its domain in lower case; ValueError unless it looks deliverable. Deliberately
    simple: the mail server is the judge of the rest."""
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"an e-mail address may be at most {MAX_ADDRESS} characters")
    if _CONTROL_OR_SPACE.search(address):
        raise ValueError("an e-mail address may not contain spaces or control characters")
    if address.count("@") != 1:
        raise ValueError("an e-mail address has exactly one @")
    local, domain = address.split("@")
    if not local:
        raise ValueError("an e-mail address needs a name before the @")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise ValueError("an e-mail address needs a domain with a dot, such as example.com")
    return f"{local}@{domain.lower()}"
