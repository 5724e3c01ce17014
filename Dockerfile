# frontier-hub's image: `hub serve` on a PostgreSQL of your own (HUB_DATABASE_URL), without the embedded server (the
# `embedded` extra is not installed), as a user that is not root. docs/operators.md, "Container".
#
#   docker build -t frontier-hub .
#   docker run --rm -e HUB_DATABASE_URL=postgresql://... frontier-hub migrate      # once per release
#   docker run -p 8000:8000 -e HUB_DATABASE_URL=... -e HUB_WEBHOOK_SECRET_KEY=... frontier-hub serve --no-migrate
#
# The commands below are what tests/test_container.py runs in a fresh virtual environment (no container engine is
# needed for that): keep the two in step.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# the hub and its dependencies in a virtual environment of their own; the sources go once installed
COPY pyproject.toml README.md /src/
COPY hub /src/hub
COPY schema /src/schema
COPY sql /src/sql
RUN python -m venv /opt/frontier-hub \
    && /opt/frontier-hub/bin/pip install --no-cache-dir /src \
    && rm -rf /src

# a system user of its own that owns nothing but its (otherwise unused) data folder
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hub \
    && mkdir -p /var/lib/frontier-hub \
    && chown hub:hub /var/lib/frontier-hub
USER 10001:10001
WORKDIR /var/lib/frontier-hub

ENV PATH=/opt/frontier-hub/bin:$PATH \
    HUB_ENV=production \
    HUB_HOST=0.0.0.0 \
    HUB_PORT=8000 \
    HUB_DATA_DIR=/var/lib/frontier-hub
EXPOSE 8000

# liveness: the process answers (GET /healthz). Readiness, for a load balancer or an orchestrator, is GET /readyz:
# 503 while the database or the event listener is out of reach (docs/operators.md, "Health").
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HUB_PORT', '8000'), timeout=2)"]

# SIGTERM drains: open subscriptions complete, in-flight requests finish (docs/operators.md, "Running several workers")
STOPSIGNAL SIGTERM
ENTRYPOINT ["hub"]
CMD ["serve"]
