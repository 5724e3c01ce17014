"""Optional OpenTelemetry tracing: on when OTEL_TRACES_EXPORTER names an exporter and the OpenTelemetry SDK is
installed (`pip install opentelemetry-sdk`, plus `opentelemetry-exporter-otlp` for `otlp`); off otherwise, at no
cost. Spans come from strawberry's OpenTelemetryExtension: one per operation, its parsing, validation and fields."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("hub.tracing")


def tracing_extensions() -> list[Any]:
    """The schema extensions that trace, when tracing is configured; [] otherwise."""
    exporter_name = (os.environ.get("OTEL_TRACES_EXPORTER") or "none").lower()
    if exporter_name == "none":
        return []
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
        from strawberry.extensions.tracing import OpenTelemetryExtension
    except ImportError:
        log.warning(
            "OTEL_TRACES_EXPORTER=%s but the OpenTelemetry SDK is not installed: tracing stays off", exporter_name
        )
        return []
    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp: tracing stays off")
            return []
        exporter = OTLPSpanExporter()
    else:
        log.warning("OTEL_TRACES_EXPORTER=%s is not one of console, otlp: tracing stays off", exporter_name)
        return []
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "frontier-hub")})
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return [OpenTelemetryExtension]
