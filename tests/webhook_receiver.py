"""A real HTTP receiver for the webhook tests: a small asyncio server that records every request, answers with the
statuses it is told to (or stalls, to time out), and verifies signatures with the standardwebhooks library."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def verify(self, secret: str) -> dict[str, Any]:
        """The body, verified with `secret` by the library (WebhookVerificationError when it does not verify)."""
        return dict(Webhook(secret).verify(self.body, self.headers))


@dataclass
class Receiver:
    """Answers each request with the next of `script` (a status, or "stall" to answer nothing), then with 200."""

    script: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/in"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()
            headers: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    break
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(headers, body))
            self.arrived.set()
            answer = self.script.pop(0) if self.script else 200
            if answer == "stall":
                await asyncio.sleep(3.0)  # past the hub's timeout in these tests
                return
            location = "Location: http://127.0.0.1:1/elsewhere\r\n" if answer in (301, 302, 307) else ""
            writer.write(f"HTTP/1.1 {answer} X\r\nContent-Length: 2\r\n{location}Connection: close\r\n\r\nok".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """At least `count` requests received (fails after `within` seconds)."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received
