"""When to try a request again, and how long to wait first."""

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 503})


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for 429 and 503 answers (always safe: the server did nothing) and for lost
    connections (only where a repeat is safe: reads, and creates that carry an Idempotency-Key)."""

    max_retries: int = 5
    backoff_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before try number `attempt + 1` (attempt counts from 0): the server's
        Retry-After when it gave one, else exponential backoff with jitter."""
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        return min(self.backoff_s * 2**attempt, self.max_delay_s) * random.uniform(0.5, 1.0)
