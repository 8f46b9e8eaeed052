"""`FrameWorker`: the synthetic camera frames of a sortie, through the vision pipeline, in
a thread of their own."""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import Any

from patrol.sortie.model import SortieError


class FrameWorker:
    """Renders the synthetic frame for each capture pose and runs the vision pipeline on it.

    Runs in one background thread so the MAVLink link never waits on image work; numpy and
    ONNX Runtime release the GIL for the heavy parts.
    """

    def __init__(self, world: Any, camera_model: Any, pipeline: Any, seed: int, name: str):
        from simulators.camera import SyntheticCamera

        self.camera = SyntheticCamera(world, camera_model, seed=seed)
        self.pipeline = pipeline
        self.frames = 0
        self.detections = 0
        self.unlocated = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"frames-{name}", daemon=True)
        self._error: BaseException | None = None
        self._stopping = threading.Event()
        self._thread.start()

    def submit(self, pose: Any) -> None:
        self._queue.put(pose)

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, stall_timeout: float) -> None:
        """Finish the queued frames; fail if none completes within `stall_timeout` seconds."""
        self._queue.put(None)
        last = -1
        while self._thread.is_alive():
            if self.frames == last:
                self.abort()
                raise SortieError(
                    f"frame processing stalled: no frame finished within {stall_timeout:.0f} s "
                    f"({self.pending} still queued)"
                )
            last = self.frames
            self._thread.join(stall_timeout)
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Drop the queued frames and stop the thread (used when the run fails)."""
        self._stopping.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            pose = self._queue.get()
            if pose is None or self._stopping.is_set():
                return
            try:
                frame = self.camera.render(pose)
                result = self.pipeline.process(f"frame-{self.frames:05d}", frame.image, pose)
                self.frames += 1
                self.detections += len(result.detections) + len(result.unlocated)
                self.unlocated += len(result.unlocated)
            except BaseException as exc:  # reported on close(), never lost
                self._error = exc
                return
