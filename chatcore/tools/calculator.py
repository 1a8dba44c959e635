"""The calculator tool: exact arithmetic on a parsed expression, never eval."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from chatcore.errors import CalculatorError
from chatcore.i18n import N_

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 10_000
MAX_RESULT_DIGITS = 1000
# Integers past this size only come from abuse, and Python refuses to print them past 4300 digits.
MAX_INT_BITS = 4000

# --- Calculator --------------------------------------------------------------------------------


_BINARY_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY_OPERATORS: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
# name -> (function, fewest arguments, most arguments)
_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "sqrt": (math.sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (round, 1, 2),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "log": (math.log, 1, 2),
    "log10": (math.log10, 1, 1),
    "exp": (math.exp, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
# Whole sentences (the model reads them), one per construct the calculator refuses.
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: N_(
        "Attribute access is not allowed; use numbers, + - * / // % ** and functions."
    ),
    ast.Subscript: N_("Subscripts are not allowed; use numbers, + - * / // % ** and functions."),
    ast.Lambda: N_("Lambdas are not allowed; use numbers, + - * / // % ** and functions."),
    ast.ListComp: N_("Comprehensions are not allowed; use numbers, + - * / // % ** and functions."),
    ast.SetComp: N_("Comprehensions are not allowed; use numbers, + - * / // % ** and functions."),
    ast.DictComp: N_("Comprehensions are not allowed; use numbers, + - * / // % ** and functions."),
    ast.GeneratorExp: N_(
        "Comprehensions are not allowed; use numbers, + - * / // % ** and functions."
    ),
    ast.Compare: N_("Comparisons are not allowed; use numbers, + - * / // % ** and functions."),
    ast.BoolOp: N_(
        "Boolean operators are not allowed; use numbers, + - * / // % ** and functions."
    ),
    ast.IfExp: N_(
        "Conditional expressions are not allowed; use numbers, + - * / // % ** and functions."
    ),
    ast.JoinedStr: N_("Strings are not allowed; use numbers, + - * / // % ** and functions."),
    ast.List: N_("Lists are not allowed; use numbers, + - * / // % ** and functions."),
    ast.Tuple: N_("Tuples are not allowed; use numbers, + - * / // % ** and functions."),
    ast.Set: N_("Sets are not allowed; use numbers, + - * / // % ** and functions."),
    ast.Dict: N_("Dicts are not allowed; use numbers, + - * / // % ** and functions."),
    ast.NamedExpr: N_("Assignments are not allowed; use numbers, + - * / // % ** and functions."),
    ast.Starred: N_(
        "Starred arguments are not allowed; use numbers, + - * / // % ** and functions."
    ),
    ast.Await: N_("Await is not allowed; use numbers, + - * / // % ** and functions."),
    ast.Yield: N_("Yield is not allowed; use numbers, + - * / // % ** and functions."),
    ast.YieldFrom: N_("Yield is not allowed; use numbers, + - * / // % ** and functions."),
}
_REFUSED_VALUES: dict[type, str] = {
    bool: N_("Booleans are not allowed; use int or float numbers."),
    str: N_("Strings are not allowed; use int or float numbers."),
    bytes: N_("Bytes are not allowed; use int or float numbers."),
    complex: N_("Complex numbers are not allowed; use int or float numbers."),
}


def calculate(expression: str) -> int | float:
    """Evaluate arithmetic by walking a whitelisted AST: model-supplied text must never run."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(
            N_("The expression is {length} characters; at most {limit} are allowed."),
            length=len(expression),
            limit=MAX_EXPRESSION_CHARS,
        )
    if not expression.strip():
        raise CalculatorError(N_("The expression is empty."))
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise CalculatorError(
            N_("Not a valid arithmetic expression: {detail}."), detail=message
        ) from exc
    try:
        return _evaluate(tree.body)
    except RecursionError as exc:
        raise CalculatorError(N_("The expression is nested too deeply.")) from exc


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise CalculatorError(
            N_("Unknown name {name!r}; only pi, e and the functions {functions} are allowed."),
            name=node.id,
            functions=", ".join(_FUNCTIONS),
        )
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPERATORS:
        return _checked(_UNARY_OPERATORS[type(node.op)](_evaluate(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPERATORS:
        left = _evaluate(node.left)
        right = _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _apply(_BINARY_OPERATORS[type(node.op)], left, right)
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.UnaryOp | ast.BinOp):
        op = node.op
        raise CalculatorError(
            N_("The operator {operator} is not allowed."), operator=type(op).__name__
        )
    if type(node) in _REFUSED:
        raise CalculatorError(_REFUSED[type(node)])
    raise CalculatorError(
        N_("{kind} expressions are not allowed; use numbers, + - * / // % ** and functions."),
        kind=type(node).__name__,
    )


def _constant(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if type(value) in _REFUSED_VALUES:
            raise CalculatorError(_REFUSED_VALUES[type(value)])
        raise CalculatorError(
            N_("{kind} values are not allowed; use int or float numbers."),
            kind=type(value).__name__,
        )
    return _checked(value)


def _check_power(base: int | float, exponent: int | float) -> None:
    # Refuse before computing: a single `**` can otherwise take minutes and gigabytes.
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(
            N_("Exponents larger than {limit} are not allowed."), limit=MAX_EXPONENT
        )
    # A negative exponent gives a small float, which costs nothing to compute.
    if exponent > 0 and abs(base) > 1 and exponent * math.log10(abs(base)) > MAX_RESULT_DIGITS:
        raise CalculatorError(
            N_("The result would have more than {limit} digits."), limit=MAX_RESULT_DIGITS
        )


def _call(node: ast.Call) -> int | float:
    if not isinstance(node.func, ast.Name):
        raise CalculatorError(
            N_("Only calls to functions by bare name, such as sqrt(2), are allowed.")
        )
    name = node.func.id
    if name not in _FUNCTIONS:
        raise CalculatorError(
            N_("The function {name!r} is not allowed; use one of {functions}."),
            name=name,
            functions=", ".join(_FUNCTIONS),
        )
    if node.keywords:
        raise CalculatorError(N_("Keyword arguments are not allowed."))
    function, fewest, most = _FUNCTIONS[name]
    if not fewest <= len(node.args) <= most and fewest == most:
        raise CalculatorError(
            N_("{name}() takes {expected} argument(s); got {given}."),
            name=name,
            expected=fewest,
            given=len(node.args),
        )
    if not fewest <= len(node.args) <= most:
        raise CalculatorError(
            N_("{name}() takes {fewest} or {most} argument(s); got {given}."),
            name=name,
            fewest=fewest,
            most=most,
            given=len(node.args),
        )
    args = [_evaluate(arg) for arg in node.args]
    if (
        name == "round"
        and len(args) == 2
        and not (isinstance(args[1], int) and abs(args[1]) <= 100)
    ):
        # A huge negative ndigits makes round() build 10**ndigits.
        raise CalculatorError(
            N_("round() needs a whole number of digits between {low} and {high}."),
            low=-100,
            high=100,
        )
    return _apply(function, *args)


def _apply(function: Callable[..., Any], *args: int | float) -> int | float:
    try:
        result = function(*args)
    except ZeroDivisionError as exc:
        raise CalculatorError(N_("Division by zero.")) from exc
    except OverflowError as exc:
        raise CalculatorError(N_("The result is too large ({detail})."), detail=str(exc)) from exc
    except ValueError as exc:
        raise CalculatorError(N_("Math error: {detail}."), detail=str(exc)) from exc
    return _checked(result)


def _checked(value: Any) -> int | float:
    if isinstance(value, complex):
        raise CalculatorError(N_("The result is not a real number."))
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError(N_("The result is too large or not a number."))
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(N_("The result is too large for the calculator."))
    checked: int | float = value
    return checked


def format_number(value: int | float) -> str:
    """Models read `42.0` or `0.30000000000000004` as noise, so print what a person would."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(value, ".15g")
    return str(value)


def run_calculator(arguments: dict[str, Any]) -> str:
    """The calculator tool; raises CalculatorError, which run_builtin reports to the model."""
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise CalculatorError(N_('The calculator needs an "expression" string.'))
    return format_number(calculate(expression))
