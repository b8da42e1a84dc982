"""Run a function once a module is imported, without importing it: ``when_imported``.

Imports: standard library only.

The OpenTelemetry bridge's "auto" mode uses it. Importing the OpenTelemetry API costs 10-15 ms,
which a Lambda function pays on every cold start whether or not it ever starts an OpenTelemetry
span; so ``configure()`` installs the bridge only once the app itself imports
``opentelemetry.trace`` (at once if it already has).

How: a finder first on ``sys.meta_path`` sees every later import of the module's top-level
package (``opentelemetry``, ``opentelemetry.*``), finds each module with the other finders and
wraps its loader so that it is told when that module has run. The function is called when the
watched module is in ``sys.modules`` and no module of the package is still running: a module
half way through its own imports (``opentelemetry.propagate`` importing ``opentelemetry.trace``)
must not be used by the function. Then the finder removes itself; modules already loaded keep
their own loaders.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any


class _Watch:
    """The finder: one per ``when_imported`` call, on ``sys.meta_path`` until it fires or is cancelled."""

    def __init__(self, name: str, fn: Callable[[], None]) -> None:
        self.name = name
        self.package = name.partition(".")[0]
        self.fn = fn
        self.running: set[str] = set()
        self.lock = threading.Lock()
        self.done = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if self.done or (fullname != self.package and not fullname.startswith(self.package + ".")):
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, self)
                return spec
        return None

    def started(self, name: str) -> None:
        with self.lock:
            self.running.add(name)

    def finished(self, name: str) -> None:
        with self.lock:
            self.running.discard(name)
            if self.done or self.running or self.name not in sys.modules:
                return
            self.done = True
        self.cancel()
        self.fn()

    def cancel(self) -> None:
        self.done = True
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


class _Loader:
    """The module's own loader, with the watch told when the module starts and has run."""

    def __init__(self, loader: Any, watch: _Watch) -> None:
        self.loader = loader
        self.watch = watch

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        name = module.__name__
        module.__loader__ = module.__spec__.loader = self.loader  # the module keeps its real loader
        self.watch.started(name)
        try:
            self.loader.exec_module(module)
        except BaseException:
            self.watch.finished(name)
            raise
        self.watch.finished(name)

    def __getattr__(self, name: str) -> Any:  # get_code, is_package, get_resource_reader, ...
        return getattr(self.loader, name)


def when_imported(name: str, fn: Callable[[], None]) -> Callable[[], None]:
    """Call ``fn()`` once module ``name`` is imported: now if it already is, else right after it is.

    Returns a function that cancels the call if it has not happened yet. ``fn`` runs in the
    thread that imports the module; it must not raise (the import would fail with it).
    """
    if name in sys.modules:
        fn()
        return _nothing
    watch = _Watch(name, fn)
    sys.meta_path.insert(0, watch)
    return watch.cancel


def _nothing() -> None:
    return None
