"""Meter expressions: CEL (cel-python) parsing, shared by validation and the metering engine.

`compile_expression` turns the CEL text into a small typed syntax tree of the subset meters
support (numbers, property names, arithmetic, comparisons, conditions); the metering engine
renders that tree as SQL. Anything outside the subset raises `UnsupportedExpression` with a
message for the person who wrote it, so meter validation refuses it before it is saved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

from celpy.celparser import CELParseError, CELParser
from lark import Tree

MAX_EXPRESSION_LENGTH = 1000
# Deeper trees are refused: nobody meters with them, and the SQL renderer recurses.
MAX_EXPRESSION_DEPTH = 100
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

SUPPORTED = (
    "Use numbers, event property names, + - * / %, parentheses, double() and int(), "
    "comparisons with ?:, and &&, || and !."
)

Kind = Literal["number", "boolean"]


class UnsupportedExpression(ValueError):
    """CEL that meters cannot evaluate; the message says why, for a person."""


# --- the syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: Decimal


@dataclass(frozen=True)
class Boolean:
    value: bool


@dataclass(frozen=True)
class Property:
    """A bare event property name: its number, 0 when missing, no value when not numeric."""

    name: str


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Truncate:
    """CEL `int(x)`: x without its fractional part, towards zero."""

    operand: Node


@dataclass(frozen=True)
class Arithmetic:
    operator: Literal["+", "-", "*", "/", "%"]
    left: Node
    right: Node


@dataclass(frozen=True)
class Comparison:
    operator: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Node
    right: Node


@dataclass(frozen=True)
class Logical:
    operator: Literal["&&", "||"]
    left: Node
    right: Node


@dataclass(frozen=True)
class Conditional:
    condition: Node
    if_true: Node
    if_false: Node


Node = (
    Number
    | Boolean
    | Property
    | Negate
    | Not
    | Truncate
    | Arithmetic
    | Comparison
    | Logical
    | Conditional
)


def kind_of(node: Node) -> Kind:
    """Whether the node gives a number or true/false."""
    if isinstance(node, Boolean | Not | Comparison | Logical):
        return "boolean"
    if isinstance(node, Conditional):
        return kind_of(node.if_true)
    return "number"


def depth_of(node: Node) -> int:
    if isinstance(node, Number | Boolean | Property):
        return 1
    if isinstance(node, Negate | Not | Truncate):
        return 1 + depth_of(node.operand)
    if isinstance(node, Conditional):
        return 1 + max(depth_of(node.condition), depth_of(node.if_true), depth_of(node.if_false))
    return 1 + max(depth_of(node.left), depth_of(node.right))


def property_names(node: Node) -> tuple[str, ...]:
    """The property names the expression reads, each once, in order of appearance."""
    names: dict[str, None] = {}
    pending: list[Node] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, Property):
            names[current.name] = None
        elif isinstance(current, Negate | Not | Truncate):
            pending.append(current.operand)
        elif isinstance(current, Conditional):
            pending.extend((current.if_false, current.if_true, current.condition))
        elif isinstance(current, Arithmetic | Comparison | Logical):
            pending.extend((current.right, current.left))
    return tuple(names)


# --- parsing ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _parser() -> CELParser:
    # celpy.Environment() would do the same parse, but also raises the interpreter's recursion
    # limit for the whole process as a side effect; meters only need the syntax tree.
    return CELParser()


@lru_cache(maxsize=256)
def parse_expression(text: str) -> Any:
    """The CEL syntax tree of `text`; raises CELParseError when it isn't CEL."""
    return _parser().parse(text)


_COMPARISONS = {
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
    "relation_eq": "==",
    "relation_ne": "!=",
}
_ARITHMETIC = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
}
# Rules that, with a single child, only pass it on.
_PASS_THROUGH = {
    "expr",
    "conditionalor",
    "conditionaland",
    "relation",
    "addition",
    "multiplication",
    "unary",
    "member",
    "primary",
    "paren_expr",
}
_UNSUPPORTED_RULES = {
    "member_dot": "nested properties (a.b) can't be used; name a top-level property",
    "member_dot_arg": "methods (a.f()) can't be used",
    "member_index": "indexing (a[…]) can't be used",
    "member_object": "objects (T{…}) can't be used",
    "dot_ident": "names starting with a dot can't be used",
    "dot_ident_arg": "functions starting with a dot can't be used",
    "list_lit": "lists ([…]) can't be used",
    "map_lit": "maps ({…}) can't be used",
    "relation_in": "the in operator can't be used",
}


_TOO_DEEP = f"it is nested too deeply (over {MAX_EXPRESSION_DEPTH} operations inside one another)"


def _where(tree: Tree) -> str:
    column = getattr(tree.meta, "column", None) if not tree.meta.empty else None
    return f" (near character {column})" if column else ""


def _refuse(reason: str, tree: Tree | None = None) -> UnsupportedExpression:
    where = _where(tree) if tree is not None else ""
    return UnsupportedExpression(
        f"The expression can't be used by a meter: {reason}{where}. {SUPPORTED}"
    )


def _need(node: Node, kind: Kind, what: str, tree: Tree) -> Node:
    if kind_of(node) != kind:
        wanted = "a number" if kind == "number" else "a condition (true or false)"
        raise _refuse(f"{what} needs {wanted}", tree)
    return node


def _literal(tree: Tree) -> Node:
    token = tree.children[0]
    text = str(token)
    kind = getattr(token, "type", "")
    if kind == "BOOL_LIT":
        return Boolean(text == "true")
    if kind in ("INT_LIT", "UINT_LIT"):
        digits = text.rstrip("uU")
        negative = digits.startswith("-")
        digits = digits.lstrip("-")
        value = int(digits, 16) if digits.lower().startswith("0x") else int(digits)
        return Number(Decimal(-value if negative else value))
    if kind == "FLOAT_LIT":
        try:
            return Number(Decimal(text))
        except InvalidOperation:  # pragma: no cover - the grammar only lets numbers through
            raise _refuse(f"{text} is not a number", tree) from None
    if kind == "NULL_LIT":
        raise _refuse("null can't be used (a missing property already counts as 0)", tree)
    raise _refuse(f"text values such as {text} can't be used", tree)


def _function(tree: Tree, depth: int) -> Node:
    name = str(tree.children[0])
    arguments = [child for child in tree.children[1:] if child is not None]
    expressions = arguments[0].children if arguments else []
    if name not in ("double", "int"):
        raise _refuse(f"the function {name}() can't be used; only double() and int() can", tree)
    if len(expressions) != 1:
        raise _refuse(f"{name}() takes exactly one number", tree)
    operand = _need(_node(expressions[0], depth + 1), "number", f"{name}()", tree)
    return operand if name == "double" else Truncate(operand)


def _node(tree: Tree, depth: int = 0) -> Node:
    if depth > MAX_EXPRESSION_DEPTH:
        raise _refuse(_TOO_DEEP)
    # Parentheses and single-child rules nest deeply without meaning anything: skip them here
    # rather than recursing, so long chains can't exhaust the stack.
    while (
        tree.data in _PASS_THROUGH
        and len(tree.children) == 1
        and isinstance(tree.children[0], Tree)
    ):
        tree = tree.children[0]
    rule = tree.data
    children = [child for child in tree.children if child is not None]
    if rule in _UNSUPPORTED_RULES:
        raise _refuse(_UNSUPPORTED_RULES[rule], tree)
    if rule == "literal":
        return _literal(tree)
    if rule == "ident":
        name = str(children[0])
        if IDENTIFIER_PATTERN.fullmatch(name) is None:
            raise _refuse(f"“{name}” is too long for a property name (64 characters at most)", tree)
        return Property(name)
    if rule == "ident_arg":
        return _function(tree, depth)
    if rule == "expr" and len(children) == 3:
        condition = _need(_node(children[0], depth + 1), "boolean", "the condition of ?:", tree)
        if_true, if_false = _node(children[1], depth + 1), _node(children[2], depth + 1)
        if kind_of(if_true) != kind_of(if_false):
            raise _refuse("both branches of ?: must give the same kind of value", tree)
        return Conditional(condition, if_true, if_false)
    if rule in ("conditionalor", "conditionaland") and len(children) == 2:
        operator: Literal["&&", "||"] = "||" if rule == "conditionalor" else "&&"
        left = _need(_node(children[0], depth + 1), "boolean", operator, tree)
        right = _need(_node(children[1], depth + 1), "boolean", operator, tree)
        return Logical(operator, left, right)
    if rule in ("relation", "addition", "multiplication") and len(children) == 2:
        operation, right_tree = children
        if operation.data in _UNSUPPORTED_RULES:
            raise _refuse(_UNSUPPORTED_RULES[operation.data], operation)
        left = _node(operation.children[0], depth + 1)
        right = _node(right_tree, depth + 1)
        if operation.data in _COMPARISONS:
            comparison = _COMPARISONS[operation.data]
            if comparison in ("==", "!=") and kind_of(left) == kind_of(right):
                return Comparison(comparison, left, right)  # type: ignore[arg-type]
            _need(left, "number", comparison, tree)
            _need(right, "number", comparison, tree)
            return Comparison(comparison, left, right)  # type: ignore[arg-type]
        symbol = _ARITHMETIC[operation.data]
        _need(left, "number", symbol, tree)
        _need(right, "number", symbol, tree)
        return Arithmetic(symbol, left, right)  # type: ignore[arg-type]
    if rule == "unary" and len(children) == 2:
        # A run of ! and - signs is a chain; walk it without recursing once per sign.
        signs: list[str] = []
        while tree.data == "unary" and len(tree.children) == 2:
            signs.append(tree.children[0].data)
            tree = tree.children[1]
        if depth + len(signs) > MAX_EXPRESSION_DEPTH:
            raise _refuse(_TOO_DEEP)
        node = _node(tree, depth + len(signs))
        for sign in reversed(signs):
            if sign == "unary_neg":
                node = Negate(_need(node, "number", "-", tree))
            else:
                node = Not(_need(node, "boolean", "!", tree))
        return node
    raise _refuse(f"“{rule}” is not supported", tree)  # pragma: no cover - grammar exhausted


@lru_cache(maxsize=256)
def compile_expression(text: str) -> Node:
    """The typed syntax tree of a meter expression; it always gives a number.

    Raises CELParseError when the text is not CEL, UnsupportedExpression when it is CEL that
    meters can't evaluate.
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise UnsupportedExpression(
            f"The expression is {len(text)} characters long; the limit is {MAX_EXPRESSION_LENGTH}."
        )
    node = _node(parse_expression(text))
    if kind_of(node) != "number":
        raise UnsupportedExpression(
            "The expression gives true or false, not a number. Turn a condition into a number "
            "with ?:, e.g. cached ? 0 : input_tokens."
        )
    if depth_of(node) > MAX_EXPRESSION_DEPTH:
        raise _refuse(_TOO_DEEP)
    return node


def expression_error(text: str) -> str | None:
    """A message a person understands when `text` is not a usable CEL expression, else None."""
    try:
        compile_expression(text)
    except CELParseError as error:
        column = getattr(error, "column", None)
        where = f" near character {column}" if column else ""
        return (
            f"The expression is not valid CEL: it can't be read{where}. "
            "Write arithmetic over event properties, e.g. input_tokens * 2 + output_tokens."
        )
    except UnsupportedExpression as error:
        return str(error)
    return None
