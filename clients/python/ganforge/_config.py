"""Where the server is and which key to show it: arguments first, then the environment."""

import os
from dataclasses import dataclass
from typing import Any

import httpx

from ganforge._retry import RetryPolicy

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "GANFORGE_URL"
KEY_ENV = "GANFORGE_API_KEY"
USER_AGENT = "ganforge-python/0.1.0"
MAX_CONNECT_S = 10.0  # a long timeout is for slow answers; a server that does not accept is down


def base_url(given: str | None) -> str:
    return (given or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def api_key(given: str | None) -> str | None:
    return given or os.environ.get(KEY_ENV) or None


def headers(key: str | None) -> dict[str, str]:
    found = {"User-Agent": USER_AGENT}
    if key:
        found["Authorization"] = f"Bearer {key}"
    return found


def timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value, connect=min(value, MAX_CONNECT_S))


@dataclass(frozen=True)
class Settings:
    """What Client and AsyncClient make alike of their constructors' arguments."""

    base_url: str
    headers: dict[str, str]
    timeout: httpx.Timeout
    retry: RetryPolicy

    @classmethod
    def resolve(cls, url: str | None, key: str | None, timeout_s: float | httpx.Timeout,
                retry: RetryPolicy | None) -> "Settings":
        return cls(base_url(url), headers(api_key(key)), timeout(timeout_s), retry or RetryPolicy())

    def http_options(self) -> dict[str, Any]:
        """The arguments that httpx.Client and httpx.AsyncClient take alike.

        Redirects followed: a large output may answer 307 to a presigned URL
        (GANFORGE_OUTPUT_REDIRECT); httpx leaves the API key off a request to another origin.
        """
        return {"base_url": self.base_url, "headers": self.headers, "timeout": self.timeout, "follow_redirects": True}
