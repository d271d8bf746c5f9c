"""Read deadlines on every connection, so a slow or hostile client cannot hold one for free.

uvicorn bounds the time between requests on a keep-alive connection (`timeout_keep_alive`), but
not a connection that never sends, nor a request whose headers or body arrive a byte at a time
(slowloris): each would hold a connection and its memory for as long as the client likes. This
protocol, uvicorn's httptools one plus two deadlines, closes them:

- the request head (request line and headers) must be complete within `header_timeout_s` of the
  connection's start, or of the first byte of the next request on a keep-alive connection: else
  `408` (problem+json) and the connection is closed;
- the body must be complete within `body_timeout_s` of the head's end: else the connection is
  closed (the app, reading it, sees a disconnect).

Waiting for an answer (`Prefer: wait`, an event stream) is not reading, and has no deadline here.
"""

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TIMEOUT_TYPE = "https://ganforge.dev/problems/request-timeout"  # service/api/errors.py's TYPE_BASE


class DeadlinedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout_s: float, body_timeout_s: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout_s, self._head_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # the next request on a kept-alive connection
            self._arm(self.header_timeout_s, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self._arm(self.body_timeout_s, self._body_too_slow)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, after_s: float, handler: Any) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(after_s, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A request of this connection is still being answered (the next one was pipelined):
            # the next head's deadline starts again.
            self._arm(self.header_timeout_s, self._head_too_slow)
            return
        body = json.dumps({"type": TIMEOUT_TYPE, "title": "Request Timeout", "status": 408,
                           "detail": f"the request's line and headers did not arrive within {self.header_timeout_s:g} s"
                           }).encode()
        self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()

    def _body_too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
