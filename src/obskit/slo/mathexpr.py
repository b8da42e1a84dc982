"""Evaluate the metric-math expressions obskit writes, on single values, as CloudWatch does.

Imports: the standard library only.

``obskit slo report`` fetches the raw statistics of each window with ``GetMetricData`` and
computes the alarms' own expression text over them here, so the report reads the very formula
the alarms read (and works against any endpoint that serves statistics). The grammar is the
subset the generator emits: numbers, query ids, ``+ - * /``, comparisons, ``AND``/``OR``,
``IF(c, a, b)`` and ``FILL(x, v)``. A missing value (no data points) propagates, ``FILL``
replaces it, and a division by zero is missing, as in CloudWatch.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping

__all__ = ["ExpressionError", "evaluate"]

Value = float | None
_TOKENS = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                     r"|(?P<op>>=|<=|==|!=|[-+*/(),<>]))")
_BINARY: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    ">=": lambda a, b: float(a >= b), ">": lambda a, b: float(a > b), "<=": lambda a, b: float(a <= b),
    "<": lambda a, b: float(a < b), "==": lambda a, b: float(a == b), "!=": lambda a, b: float(a != b),
    "AND": lambda a, b: float(bool(a) and bool(b)), "OR": lambda a, b: float(bool(a) or bool(b)),
}
_PRECEDENCE = (("OR",), ("AND",), (">=", ">", "<=", "<", "==", "!="), ("+", "-"), ("*", "/"))


class ExpressionError(ValueError):
    """The expression is outside the grammar obskit writes."""


class _Parser:
    """Recursive descent over the tokens, evaluating as it goes (expressions are tiny)."""

    def __init__(self, text: str, values: Mapping[str, Value]) -> None:
        self.tokens: list[str] = []
        pos, end = 0, len(text.rstrip())
        while pos < end:
            m = _TOKENS.match(text, pos)
            if m is None:
                raise ExpressionError(f"cannot read {text[pos:]!r}")
            self.tokens.append(m.group(m.lastgroup or "op"))
            pos = m.end()
        self.i = 0
        self.values = values

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ExpressionError(f"expected {expected or 'more'}, found {tok!r}")
        self.i += 1
        return tok

    def level(self, n: int) -> Value:
        if n == len(_PRECEDENCE):
            return self.atom()
        left = self.level(n + 1)
        while self.peek() in _PRECEDENCE[n]:
            op = self.take()
            right = self.level(n + 1)
            if left is None or right is None:
                left = None
            elif op == "/":
                left = None if right == 0 else left / right
            else:
                left = _BINARY[op](left, right)
        return left

    def atom(self) -> Value:
        tok = self.take()
        if tok == "(":
            inner = self.level(0)
            self.take(")")
            return inner
        if tok == "-":
            inner = self.atom()
            return None if inner is None else -inner
        if tok[0].isdigit():
            return float(tok)
        if self.peek() == "(":
            return self.call(tok)
        if tok not in self.values:
            raise ExpressionError(f"unknown query id {tok!r}")
        return self.values[tok]

    def call(self, name: str) -> Value:
        self.take("(")
        args = [self.level(0)]
        while self.peek() == ",":
            self.take(",")
            args.append(self.level(0))
        self.take(")")
        if name == "IF" and len(args) == 3:
            cond, yes, no = args
            return None if cond is None else (yes if cond else no)
        if name == "FILL" and len(args) == 2:
            return args[1] if args[0] is None else args[0]
        raise ExpressionError(f"function {name} with {len(args)} arguments is not supported")


def evaluate(expression: str, values: Mapping[str, Value]) -> Value:
    """The value of ``expression`` given each query id's value (``None`` when it has no data).

    Raises:
        ExpressionError: for text outside the grammar the generator writes.
    """
    parser = _Parser(expression, values)
    result = parser.level(0)
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()!r} in {expression!r}")
    return result
