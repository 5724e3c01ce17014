"""OpenTelemetry tracing is off unless configured, and traces operations when it is."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import asyncio, schema
print("extensions:", [type(e).__name__ for e in schema.schema.get_extensions()])
result = asyncio.run(schema.schema.execute("query Probe { __typename }"))
print("data:", result.data)
"""


def run_probe(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_tracing_is_off_by_default() -> None:
    # the hub's own: the error policy, the admission over WebSocket and the parse cache; no tracing extension
    assert "extensions: ['ErrorPolicy', 'WebSocketAdmission', 'OperationCache']" in run_probe()


def test_configured_tracing_exports_a_span_per_operation() -> None:
    out = run_probe(OTEL_TRACES_EXPORTER="console", OTEL_SERVICE_NAME="hub-test")
    assert "extensions: ['ErrorPolicy', 'WebSocketAdmission', 'OperationCache', 'OpenTelemetryExtension']" in out
    assert "data: {'__typename': 'Query'}" in out
    assert '"name": "GraphQL Query: Probe"' in out or '"name": "GraphQL Query"' in out, out
    assert '"service.name": "hub-test"' in out
