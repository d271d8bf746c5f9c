"""Per-key rate limits with the `limits` library on the service's Redis: a moving window per key,
shared by every API process, and the RateLimit-* headers that tell a client where it stands."""

import math
import time
from functools import lru_cache

import redis.asyncio as aioredis
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core import keys
from service.core.api_keys import UNLIMITED, ApiKey

HEADERS_STATE = "ratelimit_headers"  # request.state attribute the middleware reads


class RateLimiter:
    """Asynchronous: `limits`' asyncio storage on redis-py's asyncio client, so a limited request
    counts itself on the event loop, with no thread. The client's pool (service/core/redis_clients.py)
    is handed to `limits`, so a Sentinel-watched primary is followed there as everywhere else."""

    def __init__(self, client: aioredis.Redis, default_rate: str):
        storage = RedisStorage("async+redis://", implementation="redispy", key_prefix=keys.RATE_LIMIT_PREFIX,
                               connection_pool=client.connection_pool)
        self.limiter = MovingWindowRateLimiter(storage)
        self.default_rate = default_rate

    async def hit(self, caller: ApiKey) -> tuple[bool, dict[str, str]]:
        """Count one request of `caller`; answers whether it may go on and the RateLimit headers."""
        rate = caller.rate or self.default_rate
        if rate == UNLIMITED:
            return True, {}
        windows = _windows(rate)
        allowed = True
        for window in windows:  # a refused request counts in no later window
            if not await self.limiter.hit(window, caller.name):
                allowed = False
                break
        now = time.time()
        stats = [(window, await self.limiter.get_window_stats(window, caller.name)) for window in windows]
        window, tightest = min(stats, key=lambda item: (item[1].remaining, -item[1].reset_time))
        reset_s = max(1, math.ceil(tightest.reset_time - now))
        headers = {
            "RateLimit-Limit": str(window.amount),
            "RateLimit-Remaining": str(max(0, tightest.remaining)),
            "RateLimit-Reset": str(reset_s),
            "RateLimit-Policy": ", ".join(f"{w.amount};w={w.get_expiry()}" for w in windows),
        }
        if not allowed:
            blocked = [math.ceil(s.reset_time - now) for w, s in stats if s.remaining <= 0]
            headers["Retry-After"] = str(max(1, max(blocked, default=reset_s)))
        return allowed, headers


@lru_cache(maxsize=256)
def _windows(rate: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(rate))



class RateLimitHeaders:
    """Adds the RateLimit-* headers `authenticate` worked out to whatever the route answered
    (a dependency's own response headers are lost when a route returns a Response itself)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = (scope.get("state") or {}).get(HEADERS_STATE)
                if extra:
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    message["headers"] = list(message.get("headers", [])) + [
                        (name.lower().encode(), value.encode()) for name, value in extra.items()
                        if name.lower().encode() not in present
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
