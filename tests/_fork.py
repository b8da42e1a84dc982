"""Run a function in a forked child process and check that it finished cleanly."""

from __future__ import annotations

import os
from collections.abc import Callable


def run_in_child(fn: Callable[[], object]) -> None:
    """Fork, run ``fn`` in the child and leave it at once; the child's exit code says whether ``fn`` raised."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 0
        try:
            fn()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
