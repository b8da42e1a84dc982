"""The middleware's part in the ASGI lifespan protocol, against a scripted server (the real one: test_uvicorn)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import obskit
from obskit import metrics
from obskit.integrations.asgi import ObskitMiddleware


def _configured(tmp_path: Any) -> str:
    path = str(tmp_path / "emf.log")
    obskit.configure(service="svc", metrics="file", logs="none", emf_file_path=path, metrics_flush_interval=60)
    return path


def _lines(path: str) -> int:
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


async def _speaks_lifespan(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            metrics.count("ShutdownHandler")
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _no_lifespan(scope: Any, receive: Any, send: Any) -> None:
    assert scope["type"] == "http", "this app serves http only"


async def _returns_at_once(scope: Any, receive: Any, send: Any) -> None:
    return None


async def _fails_startup(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})
    raise RuntimeError("no database")


async def _raises_after_taking_startup(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    raise RuntimeError("broken startup")


def _run(app: Any, tmp_path: Any) -> tuple[list[str], list[int], str]:
    path = _configured(tmp_path)
    metrics.count("Served")  # a request's value, buffered until a flush
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    answers: list[str] = []
    lines_at_answer: list[int] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: dict[str, Any]) -> None:
        answers.append(message["type"])
        lines_at_answer.append(_lines(path))

    asyncio.run(ObskitMiddleware(app)({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    return answers, lines_at_answer, path


@pytest.mark.parametrize("app", [_speaks_lifespan, _no_lifespan, _returns_at_once])
def test_the_shutdown_answer_goes_out_after_the_flush(app: Any, tmp_path: Any) -> None:
    answers, lines_at_answer, _ = _run(app, tmp_path)
    assert answers == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert lines_at_answer[0] == 0  # nothing flushed at startup
    assert lines_at_answer[1] >= 1  # the buffered value was written before the server heard "complete"


def test_a_failed_startup_is_the_apps_answer(tmp_path: Any) -> None:
    with pytest.raises(RuntimeError, match="no database"):
        _run(_fails_startup, tmp_path)


def test_an_app_that_took_the_startup_and_raised_keeps_its_failure(tmp_path: Any) -> None:
    with pytest.raises(RuntimeError, match="broken startup"):
        _run(_raises_after_taking_startup, tmp_path)
