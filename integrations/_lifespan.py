"""The ASGI ``lifespan`` protocol, seen by obskit's middleware: flush when the server shuts down.

Imports: standard library and ``obskit._pipeline``.

uvicorn ends its graceful shutdown by raising SIGTERM again with the default action, so
``atexit`` never runs there: the lifespan ``shutdown`` event is the last moment a server
gives the app. The middleware therefore takes part in the protocol instead of passing it
through:

* an app that speaks lifespan runs it as before; when it answers the shutdown (its own
  handlers ran, and may have logged and counted), obskit flushes, then the answer goes on;
* an app that does not (it raises, or returns, before taking the first message: how uvicorn's
  ``lifespan="auto"`` recognises one) is answered for: the middleware completes the startup
  and, at shutdown, flushes and completes it. uvicorn would otherwise log "ASGI 'lifespan'
  protocol appears unsupported" and never say when it stops.

An app that took the first message and then failed keeps its failure: it is re-raised as is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from obskit import _pipeline

__all__ = ["SHUTDOWN_FLUSH_S", "lifespan"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

SHUTDOWN_FLUSH_S = 5.0
"""The longest the shutdown flush may take (an agent that is down must not hold the deploy)."""

_STARTUP, _SHUTDOWN = "lifespan.startup", "lifespan.shutdown"
_ANSWERS = {
    "lifespan.startup.complete": _STARTUP, "lifespan.startup.failed": _STARTUP,
    "lifespan.shutdown.complete": _SHUTDOWN, "lifespan.shutdown.failed": _SHUTDOWN,
}


class _Lifespan:
    """Where the app is in the protocol: what it took from the server and what it answered."""

    __slots__ = ("answered", "receive", "send", "taken")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send
        self.taken: list[str] = []
        self.answered: set[str] = set()

    async def app_receive(self) -> Message:
        message = await self.receive()
        self.taken.append(message.get("type", ""))
        return message

    async def app_send(self, message: Message) -> None:
        stage = _ANSWERS.get(message.get("type", ""))
        if stage == _SHUTDOWN:
            _pipeline.flush(SHUTDOWN_FLUSH_S)  # the server is going: its next step may be the end of the process
        if stage is not None:
            self.answered.add(stage)
        await self.send(message)

    async def answer_for_the_app(self) -> None:
        """Complete what the app left unanswered: the startup, then the shutdown (flushing first)."""
        if _STARTUP not in self.answered:
            if _STARTUP not in self.taken:
                await self.receive()
            await self.send({"type": "lifespan.startup.complete"})
        if _SHUTDOWN not in self.answered:
            if _SHUTDOWN not in self.taken:
                await self.receive()
            _pipeline.flush(SHUTDOWN_FLUSH_S)
            await self.send({"type": "lifespan.shutdown.complete"})


async def lifespan(app: ASGIApp, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    """Run ``app``'s lifespan with a flush at shutdown, answering for an app that has none."""
    state = _Lifespan(receive, send)
    try:
        await app(scope, state.app_receive, state.app_send)
    except Exception:
        if state.taken:
            raise  # the app speaks lifespan and failed: the server decides what that means
    if "lifespan.startup.failed" not in state.answered:
        await state.answer_for_the_app()
