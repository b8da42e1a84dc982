"""Framework and runtime integrations: thin shells around ``obskit.scope.request_scope``.

Imports: each module imports its framework lazily or at its own top; importing
``obskit.integrations`` itself loads nothing.
"""
