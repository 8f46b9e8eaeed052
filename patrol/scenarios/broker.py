"""The private MQTT broker of one scenario run: a Mosquitto process a fault can restart.

Every run gets its own broker on a free port, so scenarios never see each other's evidence
and a `broker_restart` fault cannot disturb anything else on the machine. The broker keeps
its persistence file across a restart (Mosquitto writes it on SIGTERM), as a production
broker does: the vehicles' and the gateway's persistent sessions survive, and the evidence
in flight is delivered once the broker is back.

Started as root, Mosquitto drops to the user "mosquitto", which cannot write our private
(0700, root-owned) directory: it then runs without saving anything, every session is lost on
a restart, and evidence the broker had acknowledged but not yet delivered to the ingest
vanishes. Hence `user root` when we are root, and a check at each restart that the
persistence file was written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from patrol.scenarios.errors import ScenarioError
from patrol.services import BrokerHandle, free_port, mqtt_broker_answers


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None


#: What Mosquitto writes into `persistence_location` (on SIGTERM and every autosave).
PERSISTENCE_FILE = "mosquitto.db"


class ScenarioBroker:
    """`start()`, `restart(down_s)`, `stop()`; `handle` is what `Ground` takes."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or mosquitto_binary()
        if found is None:
            raise ScenarioError(
                "scenarios need the mosquitto binary for their private broker; install it "
                "(apt install mosquitto) or put it on PATH"
            )
        self.binary = found
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._dir: Path | None = None

    @property
    def handle(self) -> BrokerHandle:
        # The scenario runner stops the broker itself (after the ground), hence no stop hook.
        return BrokerHandle("127.0.0.1", self.port, "mosquitto", 5, [])

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self, timeout: float = 10.0) -> ScenarioBroker:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="fieldpatrol-scenario-mqtt-"))
        if self.port == 0:
            self.port = free_port()
        conf = self._dir / "mosquitto.conf"
        conf.write_text(
            # As root, stay root: the user "mosquitto" could not write the persistence file.
            ("user root\n" if os.geteuid() == 0 else "")
            + f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self._dir}/\nautosave_interval 1\n",
            encoding="utf-8",
        )
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise ScenarioError(
                    f"the scenario's Mosquitto broker exited at start (code {code}) on port "
                    f"{self.port}; is the port taken?"
                )
            if mqtt_broker_answers("127.0.0.1", self.port, timeout=0.5):
                return self
            time.sleep(0.05)
        self._kill()
        raise ScenarioError(f"the scenario's Mosquitto broker did not answer within {timeout} s")

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the broker (cleanly: it saves its sessions), stay down `down_s` s, start it
        again on the same port."""
        self._kill()
        if self._dir is not None and not (self._dir / PERSISTENCE_FILE).is_file():
            # Without it the sessions are gone, and with them the evidence in flight.
            raise ScenarioError(
                f"the scenario's Mosquitto broker saved no persistence file in {self._dir} "
                "when stopped; its sessions would not survive the restart (can it write there?)"
            )
        if down_s > 0:
            time.sleep(down_s)
        self.start()
        self.restarts += 1

    def stop(self) -> None:
        """Stop the broker and remove its files (idempotent)."""
        self._kill()
        if self._dir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
