"""Push notifications: a case reached a decision, a deadline is near or missed, a patrol raised
new evidence. Each goes out as an MQTT message (`fieldpatrol/v1/gateway/notifications/<event>`)
and as an HMAC-signed webhook POST to every subscribed URL, retried with back-off.

Signature: ``X-FieldPatrol-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``
with ``X-FieldPatrol-Timestamp`` (Unix seconds) so a receiver can refuse replays.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cases.deadlines import judge
from cases.models import Case, CaseDeadline, SiteRecord
from cases.workdays import WorkCalendar, legal_date
from gateway.models import Webhook

log = logging.getLogger(__name__)

EVENTS = ("case.decided", "deadline.near", "deadline.missed", "evidence.new")
NOTIFY_TOPIC = "fieldpatrol/v1/gateway/notifications"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    secret: str = field(compare=False)
    event: str = field(compare=False)
    delivery_id: str = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=0)


class Notifier:
    """Queues notifications and delivers them in one background thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: Any,
        metrics: Any | None = None,
        deadline_scan_s: float = 300.0,
    ) -> None:
        self.sessions = sessions
        self.backoff = tuple(config.webhook_backoff_s)
        self.mqtt_host = config.mqtt_host
        self.mqtt_port = config.mqtt_port
        self.metrics = metrics
        self.deadline_scan_s = deadline_scan_s
        self.delivered: list[dict[str, Any]] = []  # recent outcomes, for the API and tests
        self._queue: list[_Delivery] = []
        self._pending: list[tuple[str, str, dict[str, Any], str | None]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mqtt: Any = None
        self._seen_deadlines: set[tuple[int, str]] = set()
        self._last_scan = 0.0

    def start(self) -> None:
        if self.mqtt_host:
            import paho.mqtt.client as mqtt

            client = mqtt.Client(
                mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"fieldpatrol-push-{uuid.uuid4().hex[:8]}",
            )
            try:
                client.connect_async(self.mqtt_host, self.mqtt_port, keepalive=30)
                client.loop_start()
                self._mqtt = client
            except OSError as exc:
                log.warning("push: broker unreachable (%s)", exc)
        self._thread = threading.Thread(target=self._run, name="gateway-push", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._mqtt is not None:
            self._mqtt.disconnect()
            self._mqtt.loop_stop()

    def notify(self, event: str, payload: dict[str, Any], department: str | None = None) -> str:
        """Queue ``event`` for MQTT and the matching webhooks; returns its delivery id.

        Cheap and non-blocking (safe on the event loop): the delivery thread looks up the
        subscribers. ``department`` None with a ``site_id`` in the payload: the site's.
        """
        if event not in EVENTS:
            raise ValueError(f"event {event!r} is not one of {EVENTS}")
        delivery_id = uuid.uuid4().hex
        with self._cv:
            self._pending.append((delivery_id, event, payload, department))
            self._cv.notify_all()
        return delivery_id

    def _fan_out(
        self, delivery_id: str, event: str, payload: dict[str, Any], department: str | None
    ) -> None:
        with self.sessions() as session:
            if department is None and payload.get("site_id"):
                site = session.get(SiteRecord, str(payload["site_id"]))
                department = site.department_id if site is not None else None
            hooks = session.scalars(select(Webhook).where(Webhook.active.is_(True))).all()
            targets = [
                (h.url, h.secret)
                for h in hooks
                if (not h.events or event in h.events)
                and (h.department_id is None or h.department_id == department)
            ]
        document: dict[str, Any] = {
            "id": delivery_id,
            "event": event,
            "time": datetime.now(UTC).isoformat(),
            "department": department,
            "data": payload,
        }
        body = json.dumps(document, ensure_ascii=False, sort_keys=True, default=str).encode()
        if self._mqtt is not None:
            self._mqtt.publish(f"{NOTIFY_TOPIC}/{event}", body, qos=1)
        with self._cv:
            for url, secret in targets:
                heapq.heappush(
                    self._queue,
                    _Delivery(
                        time.monotonic(), next(self._seq), url, secret, event, delivery_id, body
                    ),
                )
            self._gauge()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.webhook_queue.set(len(self._queue))

    def _run(self) -> None:
        with httpx.Client(timeout=5.0) as http:
            while not self._stop.is_set():
                with self._cv:
                    pending, self._pending = self._pending, []
                for item in pending:
                    try:
                        self._fan_out(*item)
                    except Exception as exc:  # keep delivering the others
                        log.warning("push: %s not queued: %s", item[1], exc)
                with self._cv:
                    now = time.monotonic()
                    if self._pending:
                        job = None
                    elif not self._queue or self._queue[0].due > now:
                        wait = self._queue[0].due - now if self._queue else 1.0
                        self._cv.wait(min(wait, 1.0))
                        job = None
                    else:
                        job = heapq.heappop(self._queue)
                        self._gauge()
                if job is not None:
                    self._deliver(http, job)
                if time.monotonic() - self._last_scan >= self.deadline_scan_s:
                    self._last_scan = time.monotonic()
                    try:
                        self.scan_deadlines()
                    except Exception as exc:  # a database hiccup must not stop delivery
                        log.warning("push: deadline scan failed: %s", exc)

    def _deliver(self, http: httpx.Client, job: _Delivery) -> None:
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-FieldPatrol-Event": job.event,
            "X-FieldPatrol-Delivery": job.delivery_id,
            "X-FieldPatrol-Timestamp": str(stamp),
            "X-FieldPatrol-Signature": sign(job.secret, stamp, job.body),
        }
        try:
            ok = 200 <= http.post(job.url, content=job.body, headers=headers).status_code < 300
        except httpx.HTTPError:
            ok = False
        outcome = "ok" if ok else "retry" if job.attempt < len(self.backoff) else "failed"
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels(outcome).inc()
        self.delivered.append(
            {"url": job.url, "event": job.event, "attempt": job.attempt, "outcome": outcome}
        )
        del self.delivered[:-1000]
        if outcome == "retry":
            job.due = time.monotonic() + self.backoff[job.attempt]
            job.attempt += 1
            with self._cv:
                heapq.heappush(self._queue, job)
                self._gauge()

    def scan_deadlines(self, today: Any = None) -> int:
        """Notify deadlines newly near (warning) or missed (overdue); each once per process."""
        today = today or legal_date(datetime.now(UTC))
        calendar = WorkCalendar()
        from cases.config import ProcedureConfig

        config = ProcedureConfig()
        sent = 0
        with self.sessions() as session:
            rows = session.execute(
                select(CaseDeadline, Case.number, Case.department)
                .join(Case, Case.id == CaseDeadline.case_id)
                .where(CaseDeadline.met_on.is_(None), CaseDeadline.cancelled.is_(False))
            ).all()
            for row, number, department in rows:
                status = judge(row, today, calendar, config).status
                event = {"warning": "deadline.near", "overdue": "deadline.missed"}.get(status)
                if event is None or (row.id, event) in self._seen_deadlines:
                    continue
                self._seen_deadlines.add((row.id, event))
                payload = {"case": number, "kind": row.kind, "due_on": str(row.due_on)}
                self.notify(event, payload, department)
                sent += 1
        return sent
