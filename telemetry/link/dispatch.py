"""Fan-out of received MAVLink messages to asyncio subscribers.

The reader thread hands each message to the event loop; the dispatcher then offers it to the
listeners (synchronous callbacks that keep vehicle state) and to every subscription whose
filter (message types, source system) matches. A subscription is a bounded queue: a slow
consumer of a telemetry stream loses the oldest samples, never blocks the link.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import LinkClosedError

Listener = Callable[[Any], None]


class Subscription:
    """Messages matching a filter, in arrival order; use ``await get(timeout)`` or iterate."""

    def __init__(
        self,
        dispatcher: Dispatcher | None,
        types: Iterable[str] | None = None,
        sysid: int | None = None,
        maxlen: int = 10000,
    ) -> None:
        self._dispatcher = dispatcher
        self.types = frozenset(types) if types is not None else None
        self.sysid = sysid
        self._queue: deque[Any] = deque(maxlen=maxlen)
        self._wakeup = asyncio.Event()
        self.closed = False

    def matches(self, msg: Any) -> bool:
        if self.types is not None and msg.get_type() not in self.types:
            return False
        return self.sysid is None or msg.get_srcSystem() == self.sysid

    def put(self, msg: Any) -> None:
        self._queue.append(msg)
        self._wakeup.set()

    async def get(self, timeout: float) -> Any:
        """The next message; ``asyncio.TimeoutError`` when none arrives within ``timeout`` s."""
        if self._queue:
            return self._queue.popleft()
        async with asyncio.timeout(timeout):
            while not self._queue:
                if self.closed:
                    raise LinkClosedError("the link was closed while waiting for an answer")
                self._wakeup.clear()
                await self._wakeup.wait()
        return self._queue.popleft()

    def get_nowait(self) -> Any | None:
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._dispatcher is not None:
                self._dispatcher.unsubscribe(self)
            self._wakeup.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        while not self._queue:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._queue.popleft()


class Dispatcher:
    """Routes messages to listeners and subscriptions; lives on the event loop thread."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._listeners: list[Listener] = []

    def subscribe(
        self, types: Iterable[str] | None = None, sysid: int | None = None, maxlen: int = 10000
    ) -> Subscription:
        sub = Subscription(self, types, sysid, maxlen)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def dispatch_batch(self, msgs: list[Any]) -> None:
        for msg in msgs:
            self.dispatch(msg)

    def dispatch(self, msg: Any) -> None:
        for listener in list(self._listeners):
            listener(msg)
        for sub in list(self._subs):
            if sub.matches(msg):
                sub.put(msg)

    def close_all(self) -> None:
        for sub in list(self._subs):
            sub.close()
