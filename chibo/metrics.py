"""Every Prometheus metric the kernel exposes, defined once per process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "chibo_http_requests_total",
    "HTTP requests answered by this process, by service, method and status code.",
    ("service", "method", "status"))
HTTP_REQUEST_SECONDS = Histogram(
    "chibo_http_request_seconds",
    "Seconds from receiving an HTTP request to having its response ready, by service.",
    ("service",))

EVENTS_APPENDED = Counter(
    "chibo_events_appended_total", "Events appended to a service's log.", ("source",))
RELAY_PUBLISHED = Counter(
    "chibo_relay_published_total", "Events the relay published and the broker confirmed.",
    ("source",))
RELAY_POSITION = Gauge(
    "chibo_relay_position", "Last log position the relay has had confirmed.", ("source",))
RELAY_FAILURES = Counter(
    "chibo_relay_failures_total", "Relay rounds that failed (broker or database down).",
    ("source",))

FEED_APPLIED = Counter(
    "chibo_feed_applied_total", "Events a consumer applied, by consumer and source.",
    ("consumer", "source"))
FEED_DUPLICATES = Counter(
    "chibo_feed_duplicates_total", "Events a consumer received again and skipped.",
    ("consumer", "source"))
FEED_HEALED = Counter(
    "chibo_feed_healed_total",
    "Events a consumer fetched from the source's log instead of the bus.",
    ("consumer", "source"))
FEED_HEAL_READS = Counter(
    "chibo_feed_heal_reads_total",
    "Reads of a source's log that healed a gap (each one a round trip to the source).",
    ("consumer", "source"))
FEED_WATERMARK = Gauge(
    "chibo_feed_watermark", "Last contiguous source position a consumer has applied.",
    ("consumer", "source"))
FEED_FAILURES = Counter(
    "chibo_feed_failures_total", "Batches a consumer failed to apply (retried later).",
    ("consumer", "source"))
GROUP_COMMIT_MEMBERS = Histogram(
    "chibo_group_commit_members",
    "Units of work committed together in one transaction (chibo.group_commit).",
    ("service",), buckets=(1, 2, 4, 8, 16, 32, 64))
