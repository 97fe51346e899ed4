# syntax=docker/dockerfile:1
# nodebase: multi-stage image. Build: docker build -t nodebase .
# Run (embedded: SQLite + files in the volume): docker run -p 1337:1337 -v nbdata:/data nodebase
# The scaled profile (PostgreSQL + pgvector, Redis, S3, two nodes behind a proxy): compose.yaml.
# Not built on the machine this was written on (no container engine there): see docs/deploy.md.

ARG PYTHON_VERSION=3.11

# -- build: a virtualenv with nodebase and its dependencies (wheels compiled here if needed)
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/nodebase
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# EXTRAS: e.g. "knowledge" for the local embedding model and PDF/web extraction
ARG EXTRAS=""
RUN /opt/nodebase/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

# -- runtime: the virtualenv only, a non-root user, the data volume, a health check
FROM python:${PYTHON_VERSION}-slim AS runtime
RUN groupadd --system --gid 10001 nodebase \
 && useradd --system --uid 10001 --gid nodebase --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin nodebase \
 && mkdir -p /data /app \
 && chown nodebase:nodebase /data /app
COPY --from=build /opt/nodebase /opt/nodebase
ENV PATH="/opt/nodebase/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    NODEBASE_DATA_DIR=/data \
    NODEBASE_PROJECT_DIR=/app \
    NODEBASE_HOST=0.0.0.0 \
    NODEBASE_PORT=1337
WORKDIR /app
VOLUME ["/data"]
EXPOSE 1337
USER nodebase:nodebase
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/api/system/ping' % os.environ.get('NODEBASE_PORT', '1337'), timeout=2)"]
STOPSIGNAL SIGTERM
CMD ["nodebase", "serve"]
