"""MQTT ingest: verified, deduplicated evidence and media from vehicles into the case record.

``IngestWorker`` is the paho consumer (manual ack after commit); ``Processor`` is the
verification and storage logic without MQTT; ``IngestMetrics`` counts what happened.
Run workers as a process with ``python -m gateway.ingest``.
"""

from gateway.ingest.metrics import IngestMetrics
from gateway.ingest.processor import Outcome, Processor
from gateway.ingest.worker import IngestError, IngestWorker

__all__ = ["IngestError", "IngestMetrics", "IngestWorker", "Outcome", "Processor"]
