"""Serving: uvicorn, with a shutdown that first completes open subscriptions."""

from __future__ import annotations

import os
import socket
import tempfile

import uvicorn
import uvicorn.supervisors.multiprocess

from hub.events import drain_running_hubs
from hub.settings import Settings


class HubServer(uvicorn.Server):
    """uvicorn's server; on SIGTERM or Ctrl-C it ends every open subscription with `complete` while the connections
    can still carry it, then stops as uvicorn does (in-flight requests drain, then the lifespan shuts down)."""

    grace_seconds = 5.0

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await drain_running_hubs(self.grace_seconds)
        await super().shutdown(sockets)


def serve(settings: Settings) -> None:
    """Run the hub (factory `hub.app:app_from_env`) with `settings.workers` worker processes."""
    HubServer.grace_seconds = settings.shutdown_grace_seconds
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
    )
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its metrics here, so that /metrics on any of them reports all
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="frontier-hub-metrics-")
    if settings.workers > 1:
        # uvicorn's supervisor builds each worker's server itself: give it ours
        uvicorn.supervisors.multiprocess.Server = HubServer  # type: ignore[misc]
        sock = config.bind_socket()
        uvicorn.supervisors.Multiprocess(config, sockets=[sock]).run()
    else:
        HubServer(config=config).run()
