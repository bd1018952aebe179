"""Composite objectives: arithmetic over metric names, e.g. `1.5*exp_mae + 2.0*(1-sol_f1)`.

Parsed with `ast` and evaluated by walking only numbers, metric names, + - * / and parentheses,
so a spec can never run code.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


class ExpressionError(ValueError):
    pass


def parse_expression(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"expression {text!r} is not valid arithmetic: {e.msg}") from e
    for node in ast.walk(tree):
        allowed = (
            ast.Expression,
            ast.BinOp,
            ast.UnaryOp,
            ast.Constant,
            ast.Name,
            ast.Load,
            *_BINARY,
            *_UNARY,
        )
        if not isinstance(node, allowed):
            raise ExpressionError(f"expression {text!r} may use only numbers, metric names, + - * / and parentheses")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, (int, float))
        ):
            raise ExpressionError(f"expression {text!r} has a non-numeric constant {node.value!r}")
    return tree


def expression_metrics(text: str) -> list[str]:
    """The metric names an expression reads, in order of first use."""
    found = [node for node in ast.walk(parse_expression(text)) if isinstance(node, ast.Name)]
    names: list[str] = []
    for node in sorted(found, key=lambda n: n.col_offset):
        if node.id not in names:
            names.append(node.id)
    return names


def evaluate_expression(text: str, metrics: Mapping[str, float]) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in metrics:
                raise ExpressionError(f"metric {node.id!r} was not reported")
            return float(metrics[node.id])
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        raise ExpressionError(f"unsupported expression node {type(node).__name__}")

    try:
        value = walk(parse_expression(text))
    except ZeroDivisionError as e:
        raise ExpressionError(f"expression {text!r} divided by zero") from e
    if not math.isfinite(value):
        raise ExpressionError(f"expression {text!r} is not finite ({value})")
    return value
