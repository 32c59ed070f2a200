"""Meter expressions: which CEL is supported, and what its SQL computes for an event."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from analytics.metering.cel_sql import expression_sql
from analytics.metering.sql import SqlParams
from costsheets.expressions import (
    Arithmetic,
    Comparison,
    Conditional,
    Number,
    Property,
    Truncate,
    UnsupportedExpression,
    compile_expression,
    expression_error,
    property_names,
)
from costsheets.models import Meter
from costsheets.validation import meter_errors

SUPPORTED = (
    "Use numbers, event property names, + - * / %, parentheses, double() and int(), "
    "comparisons with ?:, and &&, || and !."
)


def evaluate(text: str, properties: dict[str, Any]) -> Decimal | None:
    """The expression's value for one event with these properties, computed by PostgreSQL."""
    params = SqlParams()
    sql = expression_sql(text, params)
    event = params.add(json.dumps(properties))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sql} FROM (SELECT {event}::jsonb AS properties) AS e",  # noqa: S608
            params.values,
        )
        return cursor.fetchone()[0]


class TestCompiling:
    def test_arithmetic_becomes_a_typed_tree(self) -> None:
        assert compile_expression("input_tokens * 2 + output_tokens") == Arithmetic(
            "+",
            Arithmetic("*", Property("input_tokens"), Number(Decimal(2))),
            Property("output_tokens"),
        )

    def test_conditions_calls_and_literals(self) -> None:
        assert compile_expression("a >= 0x10 ? double(b) : int(c) + 1.5e1 + 2u") == Conditional(
            Comparison(">=", Property("a"), Number(Decimal(16))),
            Property("b"),
            Arithmetic(
                "+",
                Arithmetic("+", Truncate(Property("c")), Number(Decimal("15"))),
                Number(Decimal(2)),
            ),
        )

    def test_property_names_are_listed_once_in_order(self) -> None:
        node = compile_expression("b * a + (b > 1 ? c : a)")
        assert property_names(node) == ("b", "a", "c")

    def test_deep_parentheses_are_fine(self) -> None:
        assert compile_expression("(" * 400 + "a" + ")" * 400) == Property("a")

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            (
                "a.b",
                "nested properties (a.b) can't be used; name a top-level property "
                "(near character 1)",
            ),
            (
                "size(a)",
                "the function size() can't be used; only double() and int() can (near character 1)",
            ),
            ('a + "x"', 'text values such as "x" can\'t be used (near character 5)'),
            ("a[0]", "indexing (a[…]) can't be used (near character 1)"),
            ("a in b", "the in operator can't be used (near character 1)"),
            ("[1, 2]", "lists ([…]) can't be used (near character 1)"),
            (
                "a + null",
                "null can't be used (a missing property already counts as 0) (near character 5)",
            ),
            ("double(a, b)", "double() takes exactly one number (near character 1)"),
            (
                "a ? 1 : 2",
                "the condition of ?: needs a condition (true or false) (near character 1)",
            ),
            (
                "a > 1 ? 1 : true",
                "both branches of ?: must give the same kind of value (near character 1)",
            ),
            ("!a ? 1 : 0", "! needs a condition (true or false) (near character 2)"),
            ("(a > 1) + 1", "+ needs a number (near character 1)"),
            ("-" * 101 + "a", "it is nested too deeply (over 100 operations inside one another)"),
            (
                "x" * 65,
                f"“{'x' * 65}” is too long for a property name (64 characters at most) "
                "(near character 1)",
            ),
        ],
    )
    def test_unsupported_cel_is_refused_saying_why(self, text: str, reason: str) -> None:
        with pytest.raises(UnsupportedExpression) as raised:
            compile_expression(text)
        assert (
            str(raised.value) == f"The expression can't be used by a meter: {reason}. {SUPPORTED}"
        )

    def test_a_condition_alone_is_refused_because_it_is_not_a_number(self) -> None:
        assert expression_error("input_tokens > 1000") == (
            "The expression gives true or false, not a number. Turn a condition into a number "
            "with ?:, e.g. cached ? 0 : input_tokens."
        )

    def test_supported_expressions_have_no_error(self) -> None:
        assert expression_error("input_tokens > 1000 ? input_tokens * 0.5 : input_tokens") is None

    def test_meter_validation_refuses_what_the_engine_cannot_compute(self) -> None:
        meter = Meter(
            name="Tokens",
            event_name="llm_call",
            aggregation_type="SUM",
            aggregation_expression="size(prompt)",
            filters=[],
        )
        assert meter_errors(meter) == {
            "aggregation_expression": "The expression can't be used by a meter: the function "
            f"size() can't be used; only double() and int() can (near character 1). {SUPPORTED}"
        }


class TestRenderedSql:
    def test_property_names_and_numbers_are_parameters_not_sql_text(self) -> None:
        params = SqlParams()
        sql = expression_sql("input_tokens * 12345 + output_tokens", params)
        assert "input_tokens" not in sql
        assert "12345" not in sql
        assert sorted(map(str, params.values.values())) == [
            "12345",
            "input_tokens",
            "output_tokens",
        ]

    def test_a_negative_literal_after_a_minus_is_not_an_sql_comment(self) -> None:
        params = SqlParams()
        assert "--" not in expression_sql("- -2 - -a", params)


@pytest.mark.django_db
class TestEvaluation:
    @pytest.mark.parametrize(
        ("text", "properties", "expected"),
        [
            ("input_tokens * 2 + output_tokens", {"input_tokens": 10, "output_tokens": 5}, "25"),
            ("input_tokens * 2 + output_tokens", {"input_tokens": 10}, "20"),  # missing → 0
            ("a + b", {"a": 3, "b": None}, "3"),  # JSON null counts as missing
            ("a * 2", {"a": "2.5"}, "5.0"),  # numeric strings are numbers
            ("a * 1", {"a": "1e3"}, "1000"),
            ("(a + b) * 2", {"a": 1, "b": 2}, "6"),
            ("-a", {"a": 5}, "-5"),
            ("- -a", {"a": 5}, "5"),
            ("10 - -2", {}, "12"),
            ("a / b", {"a": 10, "b": 4}, "2.5"),
            ("1 / 3", {}, "0.3333333333333333"),
            ("2 / 3", {}, "0.6666666666666667"),  # halves away from zero, 16 places
            ("-2 / 3", {}, "-0.6666666666666667"),
            ("a / b", {"a": 123456789012, "b": 7}, "17636684144.5714285714285714"),
            ("a % 3", {"a": 10}, "1"),
            ("-7 % 3", {}, "-1"),  # the sign of the dividend, like CEL
            ("double(a)", {"a": 2.5}, "2.5"),
            ("int(a)", {"a": 2.7}, "2"),
            ("int(a)", {"a": -2.7}, "-2"),
            ("a > 100 ? a * 0.5 : a", {"a": 200}, "100.0"),
            ("a > 100 ? a * 0.5 : a", {"a": 50}, "50"),
            ("a >= 1 && b < 2 ? 1 : 0", {"a": 1, "b": 1}, "1"),
            ("a >= 1 && b < 2 ? 1 : 0", {"a": 1, "b": 2}, "0"),
            ("!(a == 1) ? 1 : 0", {"a": 1}, "0"),
            ("a != 1 || b <= 0 ? 1 : 0", {"a": 1, "b": 0}, "1"),
            ("a == 1.5 ? 1 : 0", {"a": "1.50"}, "1"),
            ("a * b", {"a": "12345678901234567890.123", "b": 10}, "123456789012345678901.230"),
            ("0x10 + 1u + 1.5e1", {}, "32"),
            # CEL's && and || absorb an error when the other side decides.
            ("a == 1 || b > 0 ? 1 : 0", {"a": 1, "b": "x"}, "1"),
            ("a == 2 && b > 0 ? 1 : 0", {"a": 1, "b": "x"}, "0"),
            # The branch not taken is not evaluated.
            ("a > 0 ? a : b", {"a": 1, "b": "x"}, "1"),
        ],
    )
    def test_values(self, text: str, properties: dict[str, Any], expected: str) -> None:
        value = evaluate(text, properties)
        assert value == Decimal(expected)
        assert str(value) == expected

    @pytest.mark.parametrize(
        ("text", "properties"),
        [
            ("a + 1", {"a": "abc"}),  # present but not a number: the event carries no value
            ("a + 1", {"a": True}),
            ("a + 1", {"a": {"nested": 1}}),
            ("a + 1", {"a": " 5"}),
            ("a + 1", {"a": "NaN"}),
            ("a + 1", {"a": "1e9999"}),
            ("a / b", {"a": 1, "b": 0}),  # division by zero
            ("a / b", {"a": 1}),  # a missing divisor is 0
            ("a % b", {"a": 1, "b": 0}),
            ("a == 1 || b > 0 ? 1 : 0", {"a": 2, "b": "x"}),
            ("a > 0 ? 1 : 2", {"a": "x"}),
        ],
    )
    def test_no_value(self, text: str, properties: dict[str, Any]) -> None:
        assert evaluate(text, properties) is None
