"""Serving: uvicorn on a socket bound before anything else, with a shutdown that first completes open subscriptions."""

from __future__ import annotations

import errno
import os
import socket
import tempfile

import uvicorn
import uvicorn.supervisors.multiprocess

from hub.events import drain_running_hubs
from hub.settings import Settings

# what uvicorn listens with by default (Config.backlog)
BACKLOG = 2048


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening, as uvicorn would make it. `hub serve` makes it before it touches the
    database, so that a busy port stops it before anything else, and serves on this very socket: nothing can take the
    port between the check and the bind. Not inheritable: the embedded PostgreSQL started after it must not hold it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        # listening at once: on Linux two SO_REUSEADDR sockets may both bind a port until one of them listens
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def cannot_listen(host: str, port: int, error: OSError) -> str:
    """The one line `hub serve` prints when it cannot listen on host:port."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"hub serve: {where} is already in use (another hub?); choose another with --port or HUB_PORT"
    return f"hub serve: cannot listen on {where} ({error.strerror or error}); choose another with --host/--port"


class HubServer(uvicorn.Server):
    """uvicorn's server; on SIGTERM or Ctrl-C it stops accepting connections, ends every open subscription with
    `complete` while the connections can still carry it, then stops as uvicorn does (in-flight requests drain, the
    WebSockets close with 1012, then the lifespan shuts down)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        # a worker's settings come from the environment, as its application's do (hub.app.app_from_env)
        self.grace_seconds = Settings.from_env().shutdown_grace_seconds

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        await drain_running_hubs(self.grace_seconds)
        await super().shutdown(sockets)


class HubProcess(uvicorn.supervisors.multiprocess.Process):
    """A worker process of uvicorn's supervisor that serves with HubServer. Worker processes are spawned and import
    uvicorn afresh, so the server class must come with the pickled process object, not from a patched module."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = HubServer(config=self.config)
        return self._server


def serve(settings: Settings, sock: socket.socket) -> None:
    """Run the hub (factory `hub.app:app_from_env`) on `sock` (listening_socket) with `settings.workers` workers."""
    config = uvicorn.Config(
        "hub.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
        # the hub logs every request itself (hub.request), with its request id and principal
        access_log=False,
        log_config=None,
        # an event's frame is small: compressing each one for each subscriber costs more than it saves
        ws_per_message_deflate=False,
    )
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its metrics here, so that /metrics on any of them reports all
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="frontier-hub-metrics-")
    if settings.workers > 1:
        # the supervisor makes its workers (at start, on SIGTTIN, after a crash) from this module's `Process`
        uvicorn.supervisors.multiprocess.Process = HubProcess  # type: ignore[misc]
        uvicorn.supervisors.Multiprocess(config, sockets=[sock]).run()
    else:
        HubServer(config=config).run(sockets=[sock])
