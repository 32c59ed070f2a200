"""Meter expressions (CEL, as costsheets.expressions compiles them) rendered as SQL over numeric.

SQL NULL plays CEL's error: a property that is present but not a number, or a division by
zero, is NULL; arithmetic and comparisons carry it, `false && NULL` is false and
`true || NULL` is true (as CEL's `&&`/`||` absorb errors), a NULL condition makes `?:` NULL.
An event whose expression ends NULL carries no value. Numbers are exact (numeric, not CEL's
doubles); a division keeps 16 decimal places, halves rounded away from zero (SPEC §1).
Property names and literals are always query parameters, never SQL text.
"""

from __future__ import annotations

from analytics.metering.sql import SqlParams, numeric_text_condition
from costsheets.expressions import (
    Arithmetic,
    Boolean,
    Comparison,
    Conditional,
    Logical,
    Negate,
    Node,
    Not,
    Number,
    Property,
    Truncate,
    compile_expression,
)

_COMPARISON_SQL = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}
# Adding a zero with 20 decimal places makes PostgreSQL divide to at least 20 places, which
# are then rounded to 16 (numeric division alone keeps as few as 16 significant digits).
_DIVISION_SCALE = "0.00000000000000000000"


def property_number_sql(name: str, params: SqlParams) -> str:
    """A property as an expression operand: its number; 0 when missing or JSON null; NULL
    (no value) when present but not a number or a numeric string."""
    key = params.add(name)
    value = f"(e.properties -> {key}::text)"
    text = f"(e.properties ->> {key}::text)"
    return (
        f"(CASE coalesce(jsonb_typeof({value}), 'null') "
        f"WHEN 'null' THEN 0::numeric "
        f"WHEN 'number' THEN {value}::numeric "
        f"WHEN 'string' THEN CASE WHEN {numeric_text_condition(text)} THEN {text}::numeric END "
        f"END)"
    )


def node_sql(node: Node, params: SqlParams) -> str:
    """SQL for one node of a compiled expression."""
    if isinstance(node, Number):
        return f"({params.add(node.value)}::numeric)"
    if isinstance(node, Boolean):
        return "TRUE" if node.value else "FALSE"
    if isinstance(node, Property):
        return property_number_sql(node.name, params)
    if isinstance(node, Negate):
        # The space and parentheses keep "- -2" from becoming an SQL comment ("--2").
        return f"(- ({node_sql(node.operand, params)}))"
    if isinstance(node, Not):
        return f"(NOT {node_sql(node.operand, params)})"
    if isinstance(node, Truncate):
        return f"trunc({node_sql(node.operand, params)})"
    if isinstance(node, Conditional):
        # A simple CASE evaluates the condition once; NULL matches neither branch.
        return (
            f"(CASE {node_sql(node.condition, params)} "
            f"WHEN TRUE THEN {node_sql(node.if_true, params)} "
            f"WHEN FALSE THEN {node_sql(node.if_false, params)} END)"
        )
    left, right = node_sql(node.left, params), node_sql(node.right, params)
    if isinstance(node, Logical):
        return f"({left} {'AND' if node.operator == '&&' else 'OR'} {right})"
    if isinstance(node, Comparison):
        return f"({left} {_COMPARISON_SQL[node.operator]} {right})"
    if isinstance(node, Arithmetic):
        if node.operator == "/":
            return f"trim_scale(round(({left} + {_DIVISION_SCALE}) / nullif({right}, 0), 16))"
        if node.operator == "%":
            return f"mod({left}, nullif({right}, 0))"
        return f"({left} {node.operator} {right})"
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover - closed union


def expression_sql(text: str, params: SqlParams) -> str:
    """SQL (numeric, NULL when the event carries no value) for a meter expression.

    Raises CELParseError or UnsupportedExpression for expressions meter validation refuses.
    """
    return node_sql(compile_expression(text), params)
