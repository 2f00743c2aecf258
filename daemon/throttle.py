"""Moving one-minute windows kept in the daemon's memory: how many runs one token
may trigger, and how many failed authentications one client may make.
"""

from __future__ import annotations

import math
import time

from flask import abort

from uniflow.daemon.problems import problem

_MINUTE = 60.0


class Window:
    """A moving one-minute window that counts events per key.

    Args:
        per_minute: How many events one key may have in any minute.
    """

    def __init__(self, per_minute: int) -> None:
        from limits import RateLimitItemPerMinute
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # When each key last had an event: a key without one in the last minute
        # has room, which is known without asking the limiter (most requests).
        self._last: dict[str, float] = {}

    def hit(self, key: str) -> bool:
        """Count one event of ``key``; return False when it had none left."""
        self._last[key] = time.monotonic()
        return bool(self._limiter.hit(self._item, key))

    def full(self, key: str) -> bool:
        """Whether ``key`` has no events left in the window, counting nothing."""
        last = self._last.get(key)
        if last is None:
            return False
        if time.monotonic() - last > _MINUTE:
            del self._last[key]
            return False
        return not self._limiter.test(self._item, key)

    def wait(self, key: str) -> int:
        """Return the whole seconds until ``key`` may have another event."""
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        return max(1, math.ceil(reset - time.time()))


class TriggerLimit(Window):
    """A moving one-minute window of triggers per token name."""

    def spend(self, token_name: str) -> None:
        """Count one trigger by the token named ``token_name``; answer 429 when it
        has none left."""
        if self.hit(token_name):
            return
        wait = self.wait(token_name)
        abort(
            problem(
                429,
                f"This token has triggered {self.per_minute} runs in the last "
                f"minute, its limit; try again in {wait} s, or raise trigger_limit "
                "in the [daemon] section of config.toml.",
                kind="too-many-runs",
                headers={"Retry-After": str(wait)},
            )
        )
