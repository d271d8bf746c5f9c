"""Where the server is and which key to show it: arguments first, then the environment."""

import os

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV = "GANFORGE_URL"
KEY_ENV = "GANFORGE_API_KEY"
USER_AGENT = "ganforge-python/0.1.0"


def base_url(given: str | None) -> str:
    return (given or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


def api_key(given: str | None) -> str | None:
    return given or os.environ.get(KEY_ENV) or None


def headers(key: str | None) -> dict[str, str]:
    found = {"User-Agent": USER_AGENT}
    if key:
        found["Authorization"] = f"Bearer {key}"
    return found
