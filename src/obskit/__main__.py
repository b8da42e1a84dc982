"""``python -m obskit ...``: the same command as ``obskit``.

Imports: ``obskit.cli`` only.
"""

from __future__ import annotations

from obskit.cli import main

raise SystemExit(main())
