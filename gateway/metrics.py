"""Prometheus metrics of the gateway: request latency, live clients, webhook queue, and figures
read from the database at scrape time (evidence, dead letters, active sorties). The ingest's own
counters (`gateway.ingest.metrics.IngestMetrics`) are appended when the ingest runs in-process."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cases.models import Case, DeadLetter, Evidence, Sortie


class GatewayMetrics:
    """One registry per application (several apps in one process do not collide)."""

    def __init__(self, ingest: Any | None = None) -> None:
        self.registry = CollectorRegistry()
        self.ingest = ingest
        self.requests = Histogram(
            "fieldpatrol_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.live_clients = Gauge(
            "fieldpatrol_live_clients", "Open live-stream WebSockets", registry=self.registry
        )
        self.live_messages = Counter(
            "fieldpatrol_live_messages_total",
            "Broker messages fanned out to live clients, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.webhook_queue = Gauge(
            "fieldpatrol_webhook_queue_depth",
            "Webhook deliveries waiting (including retries)",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "fieldpatrol_webhook_deliveries_total",
            "Webhook delivery attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.db_gauges = {
            name: Gauge(f"fieldpatrol_{name}", help_, registry=self.registry)
            for name, help_ in (
                ("evidence", "Evidence items held"),
                ("dead_letters", "Dead letters held"),
                ("open_cases", "Cases not closed, archived or dismissed"),
                ("active_sorties", "Sorties in flight"),
            )
        }

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, f"{status // 100}xx").observe(seconds)

    def _read_database(self, sessions: sessionmaker[Session]) -> None:
        with sessions() as session:
            values = {
                "evidence": session.scalar(select(func.count()).select_from(Evidence)),
                "dead_letters": session.scalar(select(func.count()).select_from(DeadLetter)),
                "open_cases": session.scalar(
                    select(func.count())
                    .select_from(Case)
                    .where(Case.state.not_in(("closed", "archived", "dismissed")))
                ),
                "active_sorties": session.scalar(
                    select(func.count())
                    .select_from(Sortie)
                    .where(Sortie.status.in_(("launching", "flying", "active")))
                ),
            }
        for name, value in values.items():
            self.db_gauges[name].set(value or 0)

    def exposition(self, sessions: sessionmaker[Session]) -> tuple[bytes, str]:
        """The text exposition (and its content type), database figures read now."""
        self._read_database(sessions)
        body = generate_latest(self.registry)
        if self.ingest is not None:
            body += self.ingest.prometheus().encode("utf-8")
        return body, CONTENT_TYPE_LATEST
