"""How many runs one token may trigger a minute, kept in the daemon's memory."""

from __future__ import annotations

import math
import time

from flask import abort

from uniflow.daemon.problems import problem


class TriggerLimit:
    """A moving one-minute window of triggers per token.

    Args:
        per_minute: How many runs a token may trigger in any minute.
    """

    def __init__(self, per_minute: int) -> None:
        from limits import RateLimitItemPerMinute
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.per_minute = per_minute
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def spend(self, token_id: str) -> None:
        """Count one trigger by ``token_id``; answer 429 when it has none left."""
        if self._limiter.hit(self._item, token_id):
            return
        reset = self._limiter.get_window_stats(self._item, token_id).reset_time
        wait = max(1, math.ceil(reset - time.time()))
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
