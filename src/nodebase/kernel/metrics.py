"""The node's Prometheus metrics (prometheus-client), one registry per process.

Modules import the counters they feed from here (``from nodebase.kernel import metrics``)
and never create their own, so every name is listed in one place. ``GET /metrics`` (see
:mod:`nodebase.kernel.observe`) renders :data:`REGISTRY` in the Prometheus text format.
With several worker processes each worker counts its own requests: a scrape sees the worker
that answered it (see docs/system.md, "Metrics").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)

# -- HTTP ------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter("nodebase_http_requests", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"], registry=REGISTRY)
HTTP_LATENCY = Histogram("nodebase_http_request_duration_seconds",
                         "Time from the request's arrival to the end of its answer",
                         ["method", "route"], buckets=_LATENCY_BUCKETS, registry=REGISTRY)
HTTP_ERRORS = Counter("nodebase_http_errors", "Answers with a 5xx status or an unhandled exception",
                      ["route"], registry=REGISTRY)
# -- database --------------------------------------------------------------------------------
DB_TIME = Histogram("nodebase_db_query_duration_seconds", "Time spent in one database statement",
                    ["op"], buckets=_DB_BUCKETS, registry=REGISTRY)
# -- realtime --------------------------------------------------------------------------------
REALTIME_CONNECTIONS = Gauge("nodebase_realtime_connections", "Open realtime WebSocket connections",
                             registry=REGISTRY)
REALTIME_DELIVERIES = Counter("nodebase_realtime_deliveries", "Realtime frames delivered to subscribers",
                              registry=REGISTRY)
# -- flows and knowledge ---------------------------------------------------------------------
FLOW_RUNS = Counter("nodebase_flow_runs", "Flow runs finished, by outcome", ["status"], registry=REGISTRY)
INGESTION_JOBS = Counter("nodebase_ingestion_jobs", "Knowledge ingestion jobs finished, by outcome",
                         ["status"], registry=REGISTRY)


def render() -> bytes:
    """The registry in the Prometheus text exposition format."""
    return generate_latest(REGISTRY)
