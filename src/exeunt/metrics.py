"""Prometheus metrics of one process (each instance is scraped on its own ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

http_requests = Counter(
    "exeunt_http_requests_total", "HTTP requests by route and status", ["route", "method", "status"]
)
sql_statements = Counter("exeunt_sql_statements_total", "SQL statements this process sent to the database")
signins = Counter("exeunt_signins_total", "Password sign-ins by outcome", ["outcome"])
throttled = Counter(
    "exeunt_throttled_total", "Attempts refused because of earlier failed guesses", ["kind"]
)  # kind: password, client_secret
signouts = Counter("exeunt_signouts_total", "Sessions ended, by reason", ["reason"])
deliveries = Counter("exeunt_backchannel_deliveries_total", "Back-channel delivery attempts by outcome", ["outcome"])
delivery_seconds = Histogram(
    "exeunt_backchannel_delivery_seconds",
    "Time of one back-channel delivery attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
outbox_pending = Gauge("exeunt_outbox_pending", "Back-channel notifications not yet delivered or given up")
outbox_oldest_age = Gauge("exeunt_outbox_oldest_pending_seconds", "Age of the oldest pending back-channel notification")
ssf_events = Counter("exeunt_ssf_events_total", "Shared Signals push attempts by outcome", ["outcome"])
ssf_event_seconds = Histogram(
    "exeunt_ssf_event_seconds",
    "Time of one Shared Signals push attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ssf_stream_events = Gauge(
    "exeunt_ssf_stream_events", "Events of each Shared Signals stream by state", ["stream_id", "state"]
)
