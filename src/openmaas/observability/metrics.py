"""Prometheus metrics on a registry owned by the app (no process-global collectors).

With several server processes each exposes its own /metrics; scrape every process (or
sum them in Prometheus), as with any multi-process Python server.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "openmaas_requests_total", "HTTP requests", ["surface", "route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "openmaas_request_seconds",
            "HTTP request latency",
            ["surface", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens_in = Counter("openmaas_prompt_tokens_total", "prompt tokens", ["model"], registry=r)
        self.tokens_out = Counter(
            "openmaas_completion_tokens_total", "completion tokens", ["model"], registry=r
        )
        self.ttft = Histogram(
            "openmaas_time_to_first_token_seconds",
            "time to first token",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.decode_rate = Gauge(
            "openmaas_engine_tokens_per_second", "decode rate of the last generation", ["model"], registry=r
        )
        self.queue_depth = Gauge(
            "openmaas_engine_queue_depth", "requests waiting for an engine slot", ["model"], registry=r
        )
        self.generations = Counter(
            "openmaas_generations_total", "finished generations by outcome", ["model", "status"], registry=r
        )
        self.billing_errors = Counter("openmaas_billing_errors_total", "settlements that failed", registry=r)
        self.holds = Counter(
            "openmaas_billing_holds_total",
            "chat holds by path: on this process's funds lease, or a database hold",
            ["path"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
