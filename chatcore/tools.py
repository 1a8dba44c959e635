"""Function tools: user-defined specs checked before they reach the API, plus safe built-ins."""

from __future__ import annotations

import ast
import copy
import json
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatcore.params import InvalidParameter

MAX_TOOLS = 128
MAX_DESCRIPTION_CHARS = 1024
MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 10_000
MAX_RESULT_DIGITS = 1000
# Integers past this size only come from abuse, and Python refuses to print them past 4300 digits.
MAX_INT_BITS = 4000

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FUNCTION_PREFIX = "function:"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _empty_object_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """One function the model may call; kept separate from its API shape so settings stay flat."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=_empty_object_schema)

    def to_api(self) -> dict[str, Any]:
        """The `tools` entry; copies the schema so a caller's edits can't reach a frozen spec."""
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = copy.deepcopy(self.parameters)
        return {"type": "function", "function": function}

    def to_json(self) -> dict[str, Any]:
        """Stored in conversation settings, so it must not depend on the API's wrapping."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": copy.deepcopy(self.parameters),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunctionSpec:
        """Tolerates missing optional keys so settings saved by older releases still load."""
        parameters = data.get("parameters")
        return cls(
            name=str(data["name"]),
            description=str(data.get("description") or ""),
            parameters=copy.deepcopy(parameters) if parameters else _empty_object_schema(),
        )


def validate_function(name: str, description: str, parameters_text: str) -> FunctionSpec:
    """Catch what the API would reject with an opaque 400, and say it in the editor's terms."""
    name = name.strip()
    description = description.strip()
    if not name:
        raise InvalidParameter("tools", "Give the function a name.")
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidParameter(
            "tools",
            f"Function name {name!r} is not allowed: use 1–64 letters (A–Z, a–z), digits, "
            "underscores or hyphens, with no spaces.",
        )
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidParameter(
            "tools",
            f"The description of {name!r} is {len(description)} characters; "
            f"at most {MAX_DESCRIPTION_CHARS} are allowed.",
        )
    schema = _parse_parameters(name, parameters_text)
    _check_schema(name, schema)
    return FunctionSpec(name=name, description=description, parameters=schema)


def _parse_parameters(name: str, parameters_text: str) -> dict[str, Any]:
    if not parameters_text.strip():
        return _empty_object_schema()
    try:
        schema = json.loads(parameters_text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(
            "tools",
            f"The parameters of {name!r} are not valid JSON: {exc.msg} "
            f"at line {exc.lineno}, column {exc.colno}.",
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidParameter(
            "tools", f"The parameters of {name!r} are not valid JSON: {exc}."
        ) from exc
    if not isinstance(schema, dict):
        raise InvalidParameter(
            "tools",
            f"The parameters of {name!r} must be a JSON object (a JSON Schema), "
            f"not {_json_kind(schema)}.",
        )
    return schema


def _refuse_constant(constant: str) -> Any:
    # The request body is strict JSON, so NaN and Infinity would break it on the server.
    raise ValueError(f"{constant} is not allowed in JSON")


def _check_schema(name: str, schema: dict[str, Any]) -> None:
    # Imported here: jsonschema is slow to import, and every page imports this module.
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import Draft202012Validator, validator_for

    if "type" in schema and schema["type"] != "object":
        raise InvalidParameter(
            "tools",
            f'The parameters of {name!r} must have "type": "object"; '
            f"got {json.dumps(schema['type'], ensure_ascii=False)}.",
        )
    if "$schema" in schema and not isinstance(schema["$schema"], str):
        raise InvalidParameter("tools", f'"$schema" in the parameters of {name!r} must be a URI.')
    # An explicit default: an unknown $schema falls back to the latest draft without a warning.
    validator = validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(part) for part in exc.absolute_path) or "the top level"
        raise InvalidParameter(
            "tools",
            f"The parameters of {name!r} are not a valid JSON Schema: {exc.message} (at {where}).",
        ) from exc
    properties = schema.get("properties", {})
    missing = [item for item in schema.get("required", []) if item not in properties]
    if missing:
        listed = ", ".join(repr(item) for item in missing)
        raise InvalidParameter(
            "tools",
            f'"required" in the parameters of {name!r} lists {listed}, '
            'which is not in "properties".',
        )


def _json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number")


def validate_tools(specs: Sequence[FunctionSpec]) -> None:
    """The API refuses the whole request over one bad list, so check the list as a whole."""
    if len(specs) > MAX_TOOLS:
        raise InvalidParameter(
            "tools", f"At most {MAX_TOOLS} tools can be sent; there are {len(specs)}."
        )
    seen: set[str] = set()
    duplicates: list[str] = []
    for spec in specs:
        if spec.name in seen and spec.name not in duplicates:
            duplicates.append(spec.name)
        seen.add(spec.name)
    if duplicates:
        listed = ", ".join(repr(name) for name in duplicates)
        raise InvalidParameter("tools", f"Tool names must be unique; repeated: {listed}.")


def validate_tool_choice(
    choice: str | None, tool_names: Sequence[str]
) -> dict[str, Any] | str | None:
    """Settings keep a flat string; the API wants an object for a named function."""
    if choice is None or choice == "none":
        return choice
    if choice in ("auto", "required"):
        _require_tools(tool_names)
        return choice
    if choice.startswith(_FUNCTION_PREFIX):
        name = choice.removeprefix(_FUNCTION_PREFIX)
        _require_tools(tool_names)
        if not name:
            raise InvalidParameter("tool_choice", "tool_choice function:<name> needs a name.")
        if name not in tool_names:
            available = ", ".join(tool_names)
            raise InvalidParameter(
                "tool_choice",
                f"tool_choice names function {name!r}, which is not among the tools ({available}).",
            )
        return {"type": "function", "function": {"name": name}}
    raise InvalidParameter(
        "tool_choice",
        f"tool_choice must be none, auto, required or function:<name>; got {choice!r}.",
    )


def _require_tools(tool_names: Sequence[str]) -> None:
    if not tool_names:
        raise InvalidParameter("tool_choice", "tool_choice needs at least one tool.")


# --- Calculator --------------------------------------------------------------------------------


class CalculatorError(ValueError):
    """An expression the calculator refuses; the message goes back to the model as-is."""


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
_REFUSED: dict[type[ast.AST], str] = {
    ast.Attribute: "Attribute access is",
    ast.Subscript: "Subscripts are",
    ast.Lambda: "Lambdas are",
    ast.ListComp: "Comprehensions are",
    ast.SetComp: "Comprehensions are",
    ast.DictComp: "Comprehensions are",
    ast.GeneratorExp: "Comprehensions are",
    ast.Compare: "Comparisons are",
    ast.BoolOp: "Boolean operators are",
    ast.IfExp: "Conditional expressions are",
    ast.JoinedStr: "Strings are",
    ast.List: "Lists are",
    ast.Tuple: "Tuples are",
    ast.Set: "Sets are",
    ast.Dict: "Dicts are",
    ast.NamedExpr: "Assignments are",
    ast.Starred: "Starred arguments are",
    ast.Await: "Await is",
    ast.Yield: "Yield is",
    ast.YieldFrom: "Yield is",
}


def calculate(expression: str) -> int | float:
    """Evaluate arithmetic by walking a whitelisted AST: model-supplied text must never run."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(
            f"The expression is {len(expression)} characters; at most {MAX_EXPRESSION_CHARS} "
            "are allowed."
        )
    if not expression.strip():
        raise CalculatorError("The expression is empty.")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise CalculatorError(f"Not a valid arithmetic expression: {message}.") from exc
    try:
        return _evaluate(tree.body)
    except RecursionError as exc:
        raise CalculatorError("The expression is nested too deeply.") from exc


def _evaluate(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise CalculatorError(
            f"Unknown name {node.id!r}; only pi, e and the functions "
            f"{', '.join(_FUNCTIONS)} are allowed."
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
        raise CalculatorError(f"The operator {type(op).__name__} is not allowed.")
    what = _REFUSED.get(type(node), f"{type(node).__name__} expressions are")
    raise CalculatorError(f"{what} not allowed; use numbers, + - * / // % ** and functions.")


def _constant(value: object) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kinds = {
            bool: "Booleans are",
            str: "Strings are",
            bytes: "Bytes are",
            complex: "Complex numbers are",
        }
        what = kinds.get(type(value), f"{type(value).__name__} values are")
        raise CalculatorError(f"{what} not allowed; use int or float numbers.")
    return _checked(value)


def _check_power(base: int | float, exponent: int | float) -> None:
    # Refuse before computing: a single `**` can otherwise take minutes and gigabytes.
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"Exponents larger than {MAX_EXPONENT} are not allowed.")
    # A negative exponent gives a small float, which costs nothing to compute.
    if exponent > 0 and abs(base) > 1 and exponent * math.log10(abs(base)) > MAX_RESULT_DIGITS:
        raise CalculatorError(f"The result would have more than {MAX_RESULT_DIGITS} digits.")


def _call(node: ast.Call) -> int | float:
    if not isinstance(node.func, ast.Name):
        raise CalculatorError("Only calls to functions by bare name, such as sqrt(2), are allowed.")
    name = node.func.id
    if name not in _FUNCTIONS:
        raise CalculatorError(
            f"The function {name!r} is not allowed; use one of {', '.join(_FUNCTIONS)}."
        )
    if node.keywords:
        raise CalculatorError("Keyword arguments are not allowed.")
    function, fewest, most = _FUNCTIONS[name]
    if not fewest <= len(node.args) <= most:
        expected = str(fewest) if fewest == most else f"{fewest} or {most}"
        raise CalculatorError(f"{name}() takes {expected} argument(s); got {len(node.args)}.")
    args = [_evaluate(arg) for arg in node.args]
    if (
        name == "round"
        and len(args) == 2
        and not (isinstance(args[1], int) and abs(args[1]) <= 100)
    ):
        # A huge negative ndigits makes round() build 10**ndigits.
        raise CalculatorError("round() needs a whole number of digits between -100 and 100.")
    return _apply(function, *args)


def _apply(function: Callable[..., Any], *args: int | float) -> int | float:
    try:
        result = function(*args)
    except ZeroDivisionError as exc:
        raise CalculatorError("Division by zero.") from exc
    except OverflowError as exc:
        raise CalculatorError(f"The result is too large ({exc}).") from exc
    except ValueError as exc:
        raise CalculatorError(f"Math error: {exc}.") from exc
    return _checked(result)


def _checked(value: Any) -> int | float:
    if isinstance(value, complex):
        raise CalculatorError("The result is not a real number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("The result is too large or not a number.")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError("The result is too large for the calculator.")
    return value


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
        raise CalculatorError('The calculator needs an "expression" string.')
    return format_number(calculate(expression))


# --- Current time ------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_current_time(arguments: dict[str, Any], now: Callable[[], datetime] = _utc_now) -> str:
    """Models do not know today's date; `now` (aware, injectable for tests) supplies it."""
    zone_name = arguments.get("timezone") or "UTC"
    if not isinstance(zone_name, str):
        return 'Error: "timezone" must be a string such as Asia/Shanghai.'
    zone_name = zone_name.strip()
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"Error: unknown time zone {zone_name!r}; use an IANA name such as Asia/Shanghai."
    moment = now().astimezone(zone)
    # Weekday names come from a table: strftime("%A") would follow the server's locale.
    weekday = _WEEKDAYS[moment.weekday()]
    return f"{moment.isoformat(timespec='seconds')} ({weekday}, {zone_name})"


# --- Registry ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A tool the app answers itself, so it must be side-effect free and quick."""

    spec: FunctionSpec
    label: str
    run: Callable[[dict[str, Any]], str]


BUILTIN_TOOLS: dict[str, BuiltinTool] = {
    "calculator": BuiltinTool(
        spec=FunctionSpec(
            name="calculator",
            description="Evaluate an arithmetic expression exactly instead of estimating it.",
            parameters={
                "type": "object",
                "properties": {
                    "expression": {
                        "type": "string",
                        "description": "Arithmetic such as (2+3)*4/5 or 2**10",
                    }
                },
                "required": ["expression"],
            },
        ),
        label="Calculator",
        run=run_calculator,
    ),
    "current_time": BuiltinTool(
        spec=FunctionSpec(
            name="current_time",
            description="Get the current date, time and weekday in a time zone.",
            parameters={
                "type": "object",
                "properties": {
                    "timezone": {
                        "type": "string",
                        "description": "IANA time zone such as Asia/Shanghai; UTC if omitted",
                    }
                },
            },
        ),
        label="Current time",
        run=run_current_time,
    ),
}


def run_builtin(name: str, arguments_json: str) -> str:
    """Tool results go back to the model, so bad arguments become "Error: ..." text, not raises."""
    tool = BUILTIN_TOOLS[name]  # an unknown name is a programming error: let KeyError through
    try:
        arguments = json.loads(arguments_json) if arguments_json.strip() else {}
    except (ValueError, RecursionError) as exc:
        return f"Error: the arguments are not a JSON object: {exc}"
    if not isinstance(arguments, dict):
        return f"Error: the arguments are not a JSON object: got {_json_kind(arguments)}."
    try:
        return tool.run(arguments)
    except ValueError as exc:
        return f"Error: {exc}"


def builtin_specs(names: Sequence[str]) -> list[FunctionSpec]:
    """Settings store only names, so the specs always match this release's tools."""
    unknown = [name for name in names if name not in BUILTIN_TOOLS]
    if unknown:
        raise InvalidParameter(
            "builtin_tools",
            f"Unknown built-in tool(s) {', '.join(repr(n) for n in unknown)}; "
            f"choose from {', '.join(BUILTIN_TOOLS)}.",
        )
    return [BUILTIN_TOOLS[name].spec for name in names]


def format_arguments(arguments_json: str) -> str:
    """Shown in the chat, where a half-streamed or broken call should still be readable."""
    try:
        parsed = json.loads(arguments_json)
    except (ValueError, RecursionError):
        return arguments_json
    return json.dumps(parsed, indent=2, ensure_ascii=False)
