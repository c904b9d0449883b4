"""Failed-authentication throttling per client address, in bounded memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Callable, Optional

from .database import AccessError


class Throttle:
    """Failed-authentication throttling per client address: `limit` failures within `window` seconds block it.

    `blocked(addr)` is then the seconds until the oldest of those failures leaves the window (a sliding window,
    so at most `limit` failures per window get through). At most `max_addresses` are tracked, the one whose last
    failure is oldest evicted first, so memory stays bounded under a flood from many addresses. Thread-safe.
    """

    def __init__(
        self,
        limit: int = 5,
        window: float = 60.0,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        if limit < 1 or window <= 0 or max_addresses < 1:
            raise AccessError("the throttle needs limit >= 1, window > 0 and max_addresses >= 1")
        self.limit, self.window, self.max_addresses = int(limit), float(window), int(max_addresses)
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # least recently failed first
        self._lock = threading.Lock()

    def failure(self, addr: Optional[str]) -> float:
        """Count a failed authentication from `addr`; returns the seconds it is now blocked for (0.0 if not)."""
        key, now = addr or "", self._clock()
        with self._lock:
            times = self._failures.pop(key, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[key] = times
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
            return self._left(times, now)

    def blocked(self, addr: Optional[str]) -> float:
        """Seconds until `addr` may try again; 0.0 when it is not blocked."""
        key, now = addr or "", self._clock()
        with self._lock:
            times = self._failures.get(key)
            if times is None:
                return 0.0
            if times[-1] + self.window <= now:  # every failure has left the window: forget the address
                del self._failures[key]
                return 0.0
            return self._left(times, now)

    def reset(self, addr: Optional[str]) -> None:
        """Forget the failures of `addr` (after it authenticates, say)."""
        with self._lock:
            self._failures.pop(addr or "", None)

    def __len__(self) -> int:
        """Addresses tracked now."""
        return len(self._failures)

    def _left(self, times: deque[float], now: float) -> float:
        if len(times) < self.limit:
            return 0.0
        return max(0.0, times[0] + self.window - now)
