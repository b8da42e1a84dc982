"""Placeholder demo: prints the current context and a propagated header."""
