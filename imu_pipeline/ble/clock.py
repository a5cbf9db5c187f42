"""The host clock the BLE layer reads: ``time.monotonic`` in production, injectable for tests."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic clock, and a way to wait on it."""

    def now(self) -> float:
        """Current time (s); only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock."""
        ...


class MonotonicClock:
    """:func:`time.monotonic` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def sleep_or_until(clock: Clock, seconds: float, event: asyncio.Event) -> bool:
    """Wait ``seconds`` on ``clock`` or until ``event`` is set; True when the event is set."""
    if event.is_set():
        return True
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (sleeper, waiter):
            if not t.done():
                t.cancel()
        await asyncio.gather(sleeper, waiter, return_exceptions=True)
    return event.is_set()
