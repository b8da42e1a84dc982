"""``python -m obskit ...``: the same command as ``obskit``.

Imports: ``obskit.cli`` only.
"""

from __future__ import annotations

from obskit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
