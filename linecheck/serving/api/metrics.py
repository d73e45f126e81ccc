"""Prometheus metrics of one API instance (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ApiMetrics:
    """Counters and histograms exported at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "linecheck_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "linecheck_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.inspections = Counter(
            "linecheck_inspections_ingested",
            "inspections received, by line and outcome (created|duplicate)",
            ["line", "outcome"],
            registry=self.registry,
        )
        self.defects = Counter(
            "linecheck_defects_ingested",
            "defects stored, by line and class",
            ["line", "class_name"],
            registry=self.registry,
        )
        self.conflicts = Counter(
            "linecheck_inspection_conflicts",
            "inspection ids re-sent with different content",
            registry=self.registry,
        )
        self.reviews = Counter(
            "linecheck_reviews", "review decisions, by decision", ["decision"], registry=self.registry
        )
        self.audits = Counter(
            "linecheck_audits",
            "pass audits recorded, by line and outcome (ok|escape)",
            ["line", "outcome"],
            registry=self.registry,
        )
        self.holds = Counter(
            "linecheck_holds",
            "holds placed on suspect units, by line and cause (verification|escape|complaint|other; "
            "failed: an automatic hold that could not be placed)",
            ["line", "cause"],
            registry=self.registry,
        )
        self.images = Counter(
            "linecheck_images_stored",
            "images received, by outcome (created|duplicate)",
            ["outcome"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "linecheck_auth_failures",
            "requests refused for their credentials, by outcome (refused: 401; rate_limited: 429, the client "
            "address failed too often)",
            ["outcome"],
            registry=self.registry,
        )
        self.image_store_errors = Counter(
            "linecheck_image_store_errors",
            "images that could not be written to the image store, by reason (full|io): alert on any rise",
            ["reason"],
            registry=self.registry,
        )

        self.images_pruned = Counter(
            "linecheck_images_pruned",
            "images expired by the image retention (their records stay and say so)",
            registry=self.registry,
        )
        self.image_bytes_pruned = Counter(
            "linecheck_image_bytes_pruned",
            "bytes of image files the image retention deleted",
            registry=self.registry,
        )
        self.image_prune_runs = Counter(
            "linecheck_image_prune_runs",
            "image retention runs inside the API, by outcome (ok|error): alert on errors",
            ["outcome"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts requests by route template (never the raw path) and times them."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, recording its status and latency."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, template, str(status["code"])).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)
