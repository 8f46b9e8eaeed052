"""`Ground`: the ground side shared by every sortie flown from one data directory.

One `Ground` owns, for one `Settings` ($FIELDPATROL_HOME): the case database (migrated to
head, one engine, one session factory), the MQTT broker (the configured one, or a private one
when allowed), the gateway ingest that turns the vehicles' signed evidence into the case
record, the vehicles' signing keys, and the audit recorder through which `patrol/` writes its
own acts. Sorties (`patrol.sortie.SortieRun`), fleets (`patrol.fleet`), the scheduler and the
demo all fly against one `Ground`.

    with Ground(settings) as ground:                     # start(); stop() on exit
        ground.record("site.loaded", "site:hunhe", {...})  # audit entry, thread-safe
        key = ground.enroll("uav-1")                     # key on disk, device row, ingest
        with ground.sessions() as session: ...

Ingest: by default one ingest worker per enrolled vehicle (its topics only), so that a ground
on a shared broker never takes in another installation's evidence; `ingest_all=True` (the
long-running service) serves every vehicle of the broker with one worker.
Everything started is stopped by `stop()`, in reverse order, each stop bounded in time.
`start()` first closes the sorties a crashed process left open (`patrol.sortie_claims`).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from patrol.config import Settings
from patrol.services import BrokerHandle, ensure_broker

#: The audit actor of acts `patrol/` takes on its own (launches, landings, reports).
DEFAULT_ACTOR = "patrol"


class GroundError(ValueError):
    """The ground side could not start; the message says what failed and what to do."""


def shown_url(url: str) -> str:
    """A database URL without its password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':')[0]}@{host}"
    return url


class Ground:
    """Database, broker, ingest, keys and audit recorder of one data directory."""

    def __init__(
        self,
        settings: Settings,
        *,
        actor: str = DEFAULT_ACTOR,
        allow_private_broker: bool = True,
        ingest_all: bool = False,
        ingest_session_expiry_s: int = 600,
        broker: BrokerHandle | None = None,
    ) -> None:
        self.settings = settings
        self.actor = actor
        self.allow_private_broker = allow_private_broker
        self.ingest_all = ingest_all
        # Short broker sessions by default: a demo or test ground must leave nothing behind
        # on a shared broker; the service passes days.
        self.ingest_session_expiry_s = ingest_session_expiry_s
        #: 8 hex digits naming this data directory: in vehicle and MQTT client ids, so that
        #: grounds with different homes on one broker never see each other's messages.
        self.home_tag = hashlib.sha256(str(settings.home).encode("utf-8")).hexdigest()[:8]
        self.engine: Any = None
        self.sessions: Any = None
        self.broker: BrokerHandle | None = broker
        self._given_broker = broker is not None
        self._ingests: dict[str, Any] = {}
        self._keys: dict[str, Any] = {}
        self._lock = threading.RLock()
        #: Held while appending to the audit log from this process: the entries form a chain.
        self.audit_lock = threading.Lock()
        self._stops: list[Callable[[], None]] = []
        self.started = False
        #: Sorties found open from a process that ended, recorded "interrupted" by `start()`.
        self.recovered: list[str] = []

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, *, broker: bool = True) -> Ground:
        """Migrate and open the database; find or start the broker (unless `broker=False`)."""
        if self.started:
            return self
        self.settings.ensure_dirs()
        self.open_database()
        from patrol.sortie_claims import recover_stale

        # Sorties a crashed process left "flying" are closed before anything new flies.
        self.recovered = recover_stale(self)
        if broker:
            self.open_broker()
        self.started = True
        return self

    def open_database(self) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        from cases.db import make_engine, session_factory, upgrade
        from cases.errors import DatabaseError

        if self.engine is not None:
            return
        url = self.settings.database_url
        try:
            upgrade(url)
            engine = make_engine(url)
        except (SQLAlchemyError, DatabaseError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise GroundError(
                f"cannot open the database {shown_url(url)} ({reason}); "
                "check FIELDPATROL_DATABASE_URL, or unset it to use the SQLite file under "
                "FIELDPATROL_HOME"
            ) from None
        self.engine = engine
        self.sessions = session_factory(engine)
        self._stops.append(engine.dispose)

    def open_broker(self) -> BrokerHandle:
        if self.broker is None:
            settings = self.settings
            # A broker the user named must be used; only the default may fall back.
            self.broker = ensure_broker(
                settings.mqtt_host,
                settings.mqtt_port,
                allow_private=self.allow_private_broker and not settings.mqtt_configured,
            )
            if not self._given_broker:
                self._stops.append(self.broker.stop)
        if self.ingest_all and "+" not in self._ingests:
            self._start_ingest("+")
        return self.broker

    def stop(self) -> None:
        """Stop the ingest workers, the private broker and the database engine (idempotent)."""
        with self._lock:
            stops, self._stops = self._stops, []
            self._ingests.clear()
            self.started = False
        while stops:
            # Keep stopping the rest: a failure to stop one part is no reason to leak others.
            with contextlib.suppress(Exception):
                stops.pop()()

    def __enter__(self) -> Ground:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- audit ------------------------------------------------------------------------------

    def record(
        self, action: str, subject: str, payload: dict[str, Any], actor: str | None = None
    ) -> None:
        """Append one entry to the audit log (committed at once; safe from any thread)."""
        from cases import audit

        if self.sessions is None:
            raise GroundError("the ground is not started: call Ground.start() first")
        with self.audit_lock, self.sessions() as session:
            audit.append(session, actor or self.actor, action, subject, payload)
            session.commit()

    # -- vehicles ---------------------------------------------------------------------------

    def default_vehicle_id(self, kind: str = "copter", n: int = 1) -> str:
        """A vehicle id unique to this data directory: `<kind>-<home tag>-<n>`."""
        return f"{kind}-{self.home_tag}-{n}"

    def enroll(self, vehicle_id: str) -> Any:
        """The vehicle's signing key (created on first use under keys/), enrolled as a device;
        evidence from it is then ingested. Returns the `telemetry.signing.DeviceKey`."""
        from gateway.devices import register_device
        from telemetry.signing import DeviceKey

        with self._lock:
            key = self._keys.get(vehicle_id)
            if key is None:
                key_path = self.settings.keys_dir / f"{vehicle_id}.key"
                if key_path.exists():
                    key = DeviceKey.load(key_path)
                else:
                    key = DeviceKey.generate()
                    key.save(key_path)
                with self.sessions() as session:
                    register_device(session, vehicle_id, key.public_key_bytes())
                    session.commit()
                self._keys[vehicle_id] = key
            if self.broker is not None and not self.ingest_all and vehicle_id not in self._ingests:
                self._start_ingest(vehicle_id)
        return key

    def _start_ingest(self, vehicle_id: str) -> None:
        from gateway.ingest import IngestWorker

        assert self.broker is not None
        suffix = "" if vehicle_id == "+" else f"-{vehicle_id}"
        ingest = IngestWorker(
            host=self.broker.host,
            port=self.broker.port,
            session_factory=self.sessions,
            media_dir=self.settings.media_dir,
            client_id=f"fieldpatrol-gateway-{self.home_tag}{suffix}",
            vehicle_id=vehicle_id,
            session_expiry_s=self.ingest_session_expiry_s,
            mqtt_version=self.broker.mqtt_version,
        )
        ingest.start()
        self._ingests[vehicle_id] = ingest
        self._stops.append(lambda: ingest.stop(timeout=10))

    def restart_ingest(self, down_s: float = 0.0, timeout: float = 10.0) -> list[str]:
        """Restart the gateway ingest: stop every worker, stay down `down_s` seconds, start
        them again. Their persistent broker sessions keep what arrives meanwhile (scenario
        fault `gateway_restart`). Returns the vehicle ids (or "+") whose worker restarted."""
        with self._lock:
            names = list(self._ingests)
            workers = [self._ingests.pop(name) for name in names]
        for worker in workers:
            worker.stop(timeout=timeout)
        if down_s > 0:
            time.sleep(down_s)
        with self._lock:
            for name in names:
                if self.started and self.broker is not None:
                    self._start_ingest(name)
        return names

    def publisher(self, vehicle_id: str) -> Any:
        """A started evidence publisher (durable outbox under outbox/) for `vehicle_id`; the
        caller stops it (`publisher.stop(timeout)`, then `publisher.outbox.close()`)."""
        from telemetry.outbox import Outbox
        from telemetry.publisher import EvidencePublisher

        broker = self.broker or self.open_broker()
        outbox_dir = self.settings.home / "outbox"
        outbox_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(outbox_dir / f"{vehicle_id}.sqlite")
        publisher = EvidencePublisher(
            outbox,
            host=broker.host,
            port=broker.port,
            client_id=f"fieldpatrol-{vehicle_id}",
            session_expiry_s=600,
            mqtt_version=broker.mqtt_version,
        )
        try:
            publisher.start()
        except BaseException:
            outbox.close()
            raise
        return publisher


__all__ = ["DEFAULT_ACTOR", "Ground", "GroundError", "shown_url"]
