"""Import an optional dependency, or fail with the ``pip install`` line that fixes it.

Imports: standard library and ``obskit.errors``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from obskit.errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str, *, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise ``MissingDependencyError`` naming the extra to install.

    Tells "the package is not installed" apart from "it is installed but one of its own imports
    failed" (uvicorn's importer does the same), so a broken install is not reported as a
    missing one.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        if exc.name is not None and exc.name != module and not module.startswith(exc.name + ".") \
                and exc.name.partition(".")[0] != top:
            raise
        what = feature or module
        raise MissingDependencyError(
            f"{what} needs the {module!r} package, which is not installed; "
            f"install it with: pip install 'obskit[{extra}]'"
        ) from None
