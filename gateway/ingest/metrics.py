"""Counters and latency figures of the ingest, readable by tests, the API and Prometheus."""

import threading
from collections import Counter, deque


class IngestMetrics:
    """Thread-safe counters (accepted, duplicates, media, dead letters by reason) and latency."""

    def __init__(self, latency_window: int = 100_000) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self._latency_ms: deque[float] = deque(maxlen=latency_window)

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self.counts[name] += n

    def dead_letter(self, code: str) -> None:
        """Count one dead letter with reason ``code``."""
        with self._lock:
            self.dead_letters[code] += 1
            self.counts["dead_letters"] += 1

    def latency(self, ms: float) -> None:
        """Record the receive-to-commit latency of one message."""
        with self._lock:
            self._latency_ms.append(ms)

    def percentile(self, q: float) -> float | None:
        """Latency percentile ``q`` in [0, 100] over the recent window (None if empty)."""
        with self._lock:
            values = sorted(self._latency_ms)
        if not values:
            return None
        k = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
        return values[k]

    def snapshot(self) -> dict[str, object]:
        """All figures as a JSON-ready dict."""
        with self._lock:
            counts = dict(self.counts)
            dead = dict(self.dead_letters)
        return {
            "counts": counts,
            "dead_letters": dead,
            "latency_p50_ms": self.percentile(50),
            "latency_p99_ms": self.percentile(99),
        }

    def prometheus(self) -> str:
        """The counters in Prometheus text format."""
        lines = ["# TYPE fieldpatrol_ingest_total counter"]
        with self._lock:
            for name, value in sorted(self.counts.items()):
                lines.append(f'fieldpatrol_ingest_total{{outcome="{name}"}} {value}')
            lines.append("# TYPE fieldpatrol_ingest_dead_letters_total counter")
            for code, value in sorted(self.dead_letters.items()):
                lines.append(f'fieldpatrol_ingest_dead_letters_total{{reason="{code}"}} {value}')
        return "\n".join(lines) + "\n"
