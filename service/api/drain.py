"""An API process told to stop (SIGTERM) drains before uvicorn's own graceful shutdown.

uvicorn's shutdown closes every idle keep-alive connection at once. A client may be sending its
next request on that connection at that very moment: it then sees a reset, not an answer. So
first, for up to DRAIN_WINDOW_S:

- the process stops accepting (the port stays open: uvicorn's parent holds the socket and the
  other processes go on accepting, service/api/server.py);
- every answer carries `Connection: close`, so each client, once answered, reconnects to a
  process that is staying, and an idle connection that receives a request is answered, not cut;
- once no connection is left (or the window ends), uvicorn's shutdown runs as usual: requests
  still in flight (`Prefer: wait`, one-call pictures) finish within GANFORGE_API_GRACE_S.
"""

import asyncio
import signal
import threading
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_WINDOW_S = 3.0


class DrainOnTerm:
    """ASGI middleware: takes over SIGTERM at lifespan startup (uvicorn has set its handler by then,
    and calls it when the drain is over) and closes connections after their answer while draining."""

    def __init__(self, app: ASGIApp, window_s: float = DRAIN_WINDOW_S):
        self.app = app
        self.window_s = window_s
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            async def receive_and_install() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self._take_over_sigterm()
                return message

            await self.app(scope, receive_and_install, send)
            return
        if scope["type"] != "http" or not self.draining:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)

    def _take_over_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only (an app served from a test's thread)
        stop = signal.getsignal(signal.SIGTERM)
        if not callable(stop):
            return  # not under a server that handles SIGTERM: leave the default
        loop = asyncio.get_running_loop()

        def on_term(sig: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(lambda: loop.create_task(self._drain(stop, sig, frame)))

        signal.signal(signal.SIGTERM, on_term)

    async def _drain(self, stop: Any, sig: int, frame: FrameType | None) -> None:
        if self.draining:
            return
        self.draining = True
        server = getattr(stop, "__self__", None)  # uvicorn's Server, whose handle_exit was the handler
        for listener in getattr(server, "servers", ()):
            listener.close()  # accept no more here
        state = getattr(server, "server_state", None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while state is not None and state.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        stop(sig, frame)
