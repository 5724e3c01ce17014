"""The URL rules of an endpoint and the one request the hub makes to it.

- A URL is https (http only where the operator allows it: HUB_WEBHOOK_ALLOW_HTTP, off in production), with a host,
  no user or password, no fragment, at most 2000 characters.
- The address is checked where it is used: the host is resolved when the request is made, every address it resolves
  to is checked, and the hub connects to the address it checked (so a DNS answer that changes between a check and a
  connection, DNS rebinding, gets nowhere). Loopback, private, link-local, multicast, reserved and unspecified
  addresses are refused unless the operator allows their network (HUB_WEBHOOK_ALLOWED_NETWORKS, say 127.0.0.0/8).
- One HTTP/1.1 POST with `Connection: close`; TLS is verified against the URL's host name (not the address). A
  redirect is never followed: a 3xx is a failed attempt. The response's status line is read, and at most
  MAX_RESPONSE_BYTES of the rest; the whole exchange has one timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
MAX_RESPONSE_BYTES = 4096
BODY_SECONDS = 1.0
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A URL, or the address it resolves to, that the hub does not send to; the message says why (never the
    secret, never more than the URL's host)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse_networks(texts: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in texts if t.strip())


def check_url(url: str, *, allow_http: bool) -> Target:
    """The parts of a URL the hub may send to (UrlRefused otherwise). An address written in the URL is checked
    later like a resolved one, so that the same rule and the same operator setting apply to both."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise UrlRefused("no spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"not a URL ({error})") from None
    if parts.scheme not in ("https", "http"):
        raise UrlRefused("must start with https://")
    if parts.scheme == "http" and not allow_http:
        raise UrlRefused("must be https (plain http is off: HUB_WEBHOOK_ALLOW_HTTP)")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry a user name or password")
    if parts.fragment:
        raise UrlRefused("must not have a fragment (#...)")
    host = parts.hostname
    if not host:
        raise UrlRefused("has no host")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def address_refusal(address: Address, allowed: Sequence[Network]) -> str | None:
    """Why the hub does not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    for refused, name in (
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_private, "private"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_unspecified, "unspecified"),
    ):
        if refused:
            return f"{name} address {address} refused (HUB_WEBHOOK_ALLOWED_NETWORKS allows a network)"
    return None


def check_literal(target: Target, allowed: Sequence[Network]) -> None:
    """At registration: an address written in the URL is refused at once by the same rule."""
    try:
        address = ipaddress.ip_address(target.host)
    except ValueError:
        return
    why = address_refusal(address, allowed)
    if why:
        raise UrlRefused(why)


async def resolve(target: Target, allowed: Sequence[Network]) -> Address:
    """The address to connect to: every address the host resolves to must pass (a name that resolves to one public
    and one private address is refused), and the first is used."""
    try:
        return_literal = ipaddress.ip_address(target.host)
    except ValueError:
        return_literal = None
    if return_literal is not None:
        addresses: list[Address] = [return_literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise UrlRefused(f"the host {target.host} does not resolve ({error.strerror or error})") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        if not addresses:
            raise UrlRefused(f"the host {target.host} does not resolve")
    for address in addresses:
        why = address_refusal(address, allowed)
        if why:
            raise UrlRefused(why)
    return addresses[0]


@dataclass(frozen=True)
class Response:
    status: int | None
    body: bytes
    latency_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 - one timeout for the whole exchange, resolution included
    allow_http: bool,
    allowed: Sequence[Network],
    max_response_bytes: int = MAX_RESPONSE_BYTES,
) -> Response:
    """POST `body` to `url` once: a Response whose `error` says what went wrong when no status came back."""
    started = time.perf_counter()

    def done(status: int | None, data: bytes = b"", error: str | None = None) -> Response:
        return Response(status, data, int((time.perf_counter() - started) * 1000), error)

    try:
        target = check_url(url, allow_http=allow_http)
        return await asyncio.wait_for(
            _exchange(target, body, headers, allowed, max_response_bytes, done), timeout=timeout
        )
    except UrlRefused as refused:
        return done(None, error=f"refused: {refused}")
    except TimeoutError:
        return done(None, error=f"timed out after {timeout:g} s")
    except ssl.SSLError as error:
        return done(None, error=f"TLS failed ({error.reason or type(error).__name__})")
    except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as error:
        return done(None, error=f"connection failed ({type(error).__name__})")


async def _exchange(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    allowed: Sequence[Network],
    max_response_bytes: int,
    done: Any,
) -> Response:
    address = await resolve(target, allowed)
    context = ssl.create_default_context() if target.scheme == "https" else None
    reader, writer = await asyncio.open_connection(
        str(address),
        target.port,
        ssl=context,
        server_hostname=target.host if context is not None else None,
    )
    try:
        host = target.host if ":" not in target.host else f"[{target.host}]"
        default_port = 443 if target.scheme == "https" else 80
        host_header = host if target.port == default_port else f"{host}:{target.port}"
        lines = [
            f"POST {target.path} HTTP/1.1",
            f"Host: {host_header}",
            "User-Agent: frontier-hub-webhooks/1",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return done(None, error="not an HTTP response")
        status = int(parts[1])
        # the headers (at most 100 lines), then at most max_response_bytes of the body (less when its
        # Content-Length says so), until the server closes or the limit is reached
        length: int | None = None
        for _ in range(100):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length" and value.strip().isdigit():
                length = int(value.strip())
        want = max_response_bytes if length is None else min(length, max_response_bytes)
        content = b""
        # the status decides the attempt: a body that trickles or never ends (a server that keeps the connection
        # open) is read for a second at most, and what came is kept for the log
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(BODY_SECONDS):
                while len(content) < want:
                    chunk = await reader.read(want - len(content))
                    if not chunk:
                        break
                    content += chunk
        return done(status, content[:max_response_bytes])
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
