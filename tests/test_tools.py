"""Function tools: specs are checked before the API sees them, and built-ins never run code."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chatcore.errors import CalculatorError, InvalidParameter
from chatcore.tools.builtin import BUILTIN_TOOLS, builtin_specs, run_builtin
from chatcore.tools.calculator import calculate, format_number
from chatcore.tools.clock import run_current_time
from chatcore.tools.functions import (
    FunctionSpec,
    format_arguments,
    validate_function,
    validate_tool_choice,
    validate_tools,
)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
FIXED_NOW = datetime(2026, 11, 26, 6, 38, 38, 123456, tzinfo=UTC)  # a Thursday


# --- FunctionSpec -----------------------------------------------------------------------------


def test_spec_to_api_has_the_exact_openai_shape() -> None:
    spec = FunctionSpec(
        name="get_weather", description="Weather by city", parameters=WEATHER_SCHEMA
    )
    assert spec.to_api() == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather by city",
            "parameters": WEATHER_SCHEMA,
        },
    }


def test_spec_to_api_omits_an_empty_description_and_defaults_to_an_empty_object() -> None:
    assert FunctionSpec(name="ping").to_api() == {
        "type": "function",
        "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}},
    }


def test_spec_to_api_returns_a_copy_the_caller_cannot_use_to_edit_the_spec() -> None:
    spec = FunctionSpec(name="get_weather", parameters=json.loads(json.dumps(WEATHER_SCHEMA)))
    spec.to_api()["function"]["parameters"]["properties"].clear()
    assert spec.parameters == WEATHER_SCHEMA


def test_spec_json_round_trips() -> None:
    spec = FunctionSpec(name="天气", description="查询天气", parameters=WEATHER_SCHEMA)
    stored = spec.to_json()
    assert stored == {"name": "天气", "description": "查询天气", "parameters": WEATHER_SCHEMA}
    assert FunctionSpec.from_json(json.loads(json.dumps(stored))) == spec


def test_spec_from_json_fills_in_missing_optional_keys() -> None:
    assert FunctionSpec.from_json({"name": "ping"}) == FunctionSpec(name="ping")
    assert FunctionSpec.from_json({"name": "ping", "parameters": {}}).parameters == {
        "type": "object",
        "properties": {},
    }


# --- validate_function -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get_weather", "a", "A-b_9", "x" * 64, "  padded  "])
def test_valid_function_names_are_accepted(name: str) -> None:
    assert validate_function(name, "", "").name == name.strip()


@pytest.mark.parametrize("name", ["get weather", "x" * 65, "天气", "a.b", "a/b", "f()", "a\nb"])
def test_invalid_function_names_say_what_is_allowed(name: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_function(name, "", "")
    assert caught.value.field == "tools"
    assert "letters" in str(caught.value)
    assert "underscores or hyphens" in str(caught.value)


def test_an_empty_function_name_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="Give the function a name"):
        validate_function("   ", "", "")


def test_chinese_description_is_accepted_and_kept() -> None:
    spec = validate_function("weather", "查询某个城市的天气预报。", "")
    assert spec.description == "查询某个城市的天气预报。"
    assert spec.to_api()["function"]["description"] == "查询某个城市的天气预报。"


def test_description_length_limit_is_1024_characters() -> None:
    assert len(validate_function("f", "天" * 1024, "").description) == 1024
    with pytest.raises(InvalidParameter, match="1025 characters; at most 1024") as caught:
        validate_function("f", "天" * 1025, "")
    assert caught.value.field == "tools"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_parameters_mean_an_empty_object_schema(text: str) -> None:
    assert validate_function("f", "", text).parameters == {"type": "object", "properties": {}}


def test_valid_parameters_are_parsed_into_the_spec() -> None:
    spec = validate_function("get_weather", "Weather", json.dumps(WEATHER_SCHEMA, indent=2))
    assert spec == FunctionSpec(
        name="get_weather", description="Weather", parameters=WEATHER_SCHEMA
    )


def test_a_schema_without_a_type_is_accepted() -> None:
    text = '{"properties": {"q": {"type": "string"}}}'
    assert validate_function("f", "", text).parameters == {"properties": {"q": {"type": "string"}}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n  "type": "object",\n  "properties": }', "line 3, column 17"),
        ('{"type": "object",}', "line 1, column 19"),
        ("{'type': 'object'}", "line 1, column 2"),
    ],
)
def test_json_syntax_errors_report_line_and_column(text: str, expected: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_function("f", "", text)
    assert caught.value.field == "tools"
    assert "not valid JSON" in str(caught.value)
    assert expected in str(caught.value)


def test_nan_is_refused_because_the_request_must_be_strict_json() -> None:
    with pytest.raises(InvalidParameter, match="NaN is not allowed"):
        validate_function("f", "", '{"type": "object", "properties": {"a": {"maximum": NaN}}}')


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[]", "array"), ('"object"', "string"), ("42", "number"), ("null", "null")],
)
def test_parameters_must_be_a_json_object(text: str, kind: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_function("f", "", text)
    assert str(caught.value) == (
        f"The parameters of 'f' must be a JSON object (a JSON Schema), not a JSON {kind}."
    )
    assert caught.value.params["kind"] == kind  # the JSON type's name, the same in any language


@pytest.mark.parametrize(
    ("value", "shown"), [('"string"', '"string"'), ('["object"]', '["object"]')]
)
def test_top_level_type_must_be_object(value: str, shown: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_function("f", "", f'{{"type": {value}}}')
    assert str(caught.value) == f'The parameters of \'f\' must have "type": "object"; got {shown}.'


@pytest.mark.parametrize(
    ("schema", "where", "detail"),
    [
        ({"type": "object", "properties": {"a": {"type": "nonsense"}}}, "properties.a.type", ""),
        ({"type": "object", "properties": []}, "properties", "is not of type 'object'"),
        (
            {"type": "object", "properties": {"n": {"type": "integer", "minimum": "1"}}},
            "properties.n.minimum",
            "is not of type 'number'",
        ),
        ({"type": "object", "required": "city"}, "required", "is not of type 'array'"),
    ],
)
def test_invalid_json_schemas_report_the_problem_and_where(
    schema: dict[str, object], where: str, detail: str
) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_function("f", "", json.dumps(schema))
    message = str(caught.value)
    assert caught.value.field == "tools"
    assert message.startswith("The parameters of 'f' are not a valid JSON Schema: ")
    assert message.endswith(f"(at {where}).")
    assert detail in message


def test_a_non_string_dollar_schema_is_refused_clearly() -> None:
    with pytest.raises(
        InvalidParameter, match=r'"\$schema" in the parameters of \'f\' must be a URI'
    ):
        validate_function("f", "", '{"$schema": ["draft"], "type": "object"}')


def test_an_older_draft_named_by_dollar_schema_is_used() -> None:
    draft4 = '{"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}'
    assert validate_function("f", "", draft4).parameters["$schema"].endswith("draft-04/schema#")
    with pytest.raises(InvalidParameter, match=r"\[\] should be non-empty \(at required\)"):
        validate_function("f", "", draft4[:-1] + ', "required": []}')


@pytest.mark.parametrize(
    ("schema", "listed"),
    [
        ({"type": "object", "properties": {"a": {}}, "required": ["a", "b"]}, "'b'"),
        ({"type": "object", "required": ["city", "days"]}, "'city', 'days'"),
    ],
)
def test_required_names_must_be_properties(schema: dict[str, object], listed: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_function("f", "", json.dumps(schema))
    assert str(caught.value) == (
        f'"required" in the parameters of \'f\' lists {listed}, which is not in "properties".'
    )


# --- validate_tools ----------------------------------------------------------------------------


def test_unique_tools_up_to_the_limit_pass() -> None:
    specs = [FunctionSpec(name=f"tool_{index}") for index in range(128)]
    validate_tools(specs)  # does not raise
    validate_tools([FunctionSpec(name="Search"), FunctionSpec(name="search")])  # case-sensitive
    validate_tools([])


def test_more_than_128_tools_are_refused() -> None:
    specs = [FunctionSpec(name=f"tool_{index}") for index in range(129)]
    with pytest.raises(InvalidParameter, match="At most 128 tools can be sent; there are 129") as e:
        validate_tools(specs)
    assert e.value.field == "tools"


def test_duplicate_tool_names_are_listed_once_each() -> None:
    names = ["a", "b", "a", "c", "b", "a"]
    with pytest.raises(InvalidParameter) as caught:
        validate_tools([FunctionSpec(name=name) for name in names])
    assert caught.value.field == "tools"
    assert str(caught.value) == "Tool names must be unique; repeated: 'a', 'b'."


# --- validate_tool_choice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "tools", "expected"),
    [
        (None, [], None),
        (None, ["calculator"], None),
        ("none", [], "none"),
        ("none", ["calculator"], "none"),
        ("auto", ["calculator"], "auto"),
        ("required", ["calculator", "get_weather"], "required"),
        (
            "function:get_weather",
            ["calculator", "get_weather"],
            {"type": "function", "function": {"name": "get_weather"}},
        ),
    ],
)
def test_tool_choice_forms_become_what_the_api_expects(
    choice: str | None, tools: list[str], expected: object
) -> None:
    assert validate_tool_choice(choice, tools) == expected


@pytest.mark.parametrize("choice", ["auto", "required", "function:calculator"])
def test_tool_choice_other_than_none_needs_a_tool(choice: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_tool_choice(choice, [])
    assert caught.value.field == "tool_choice"
    assert str(caught.value) == "tool_choice needs at least one tool."


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (
            "function:get_wether",
            "tool_choice names function 'get_wether', which is not among the tools "
            "(calculator, get_weather).",
        ),
        (
            "function:Calculator",
            "tool_choice names function 'Calculator', which is not among the tools "
            "(calculator, get_weather).",
        ),
        ("function:", "tool_choice function:<name> needs a name."),
        (
            "always",
            "tool_choice must be none, auto, required or function:<name>; got 'always'.",
        ),
        ("AUTO", "tool_choice must be none, auto, required or function:<name>; got 'AUTO'."),
        ("", "tool_choice must be none, auto, required or function:<name>; got ''."),
    ],
)
def test_bad_tool_choices_are_explained(choice: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        validate_tool_choice(choice, ["calculator", "get_weather"])
    assert caught.value.field == "tool_choice"
    assert str(caught.value) == message


# --- calculator --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("(2+3)*4/5", 4.0),
        ("2**10", 1024),
        ("2 ** 3 ** 2", 512),
        ("-2**2", -4),
        ("(-2)**2", 4),
        ("--3", 3),
        ("+-+4", -4),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("7 / 2", 3.5),
        ("0.5 * 4", 2.0),
        ("1.5e3 + 1", 1501.0),
        ("2 ** -1", 0.5),
        ("10 ** 1000 // 10 ** 999", 10),
        ("sqrt(16)", 4.0),
        ("abs(-3.5)", 3.5),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ("floor(-2.5)", -3),
        ("ceil(2.1)", 3),
        ("log(8, 2)", 3.0),
        ("log10(1000)", 3.0),
        ("exp(0)", 1.0),
        ("cos(0) + sin(0) + tan(0)", 1.0),
        ("pi", 3.141592653589793),
        ("e", 2.718281828459045),
        ("  2 * pi  ", 6.283185307179586),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, expected: float) -> None:
    result = calculate(expression)
    assert result == pytest.approx(expected)
    assert type(result) is type(expected)


def test_calculator_log_with_one_argument_is_natural() -> None:
    assert calculate("log(e ** 3)") == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "The function '__import__' is not allowed"),
        ("__import__('os').system('ls')", "Only calls to functions by bare name"),
        ("(1).__class__", "Attribute access is not allowed"),
        ("math.sqrt(4)", "Only calls to functions by bare name"),
        ("x + 1", "Unknown name 'x'"),
        ("os", "Unknown name 'os'"),
        ("'a' * 3", "Strings are not allowed"),
        ("f'{1}'", "Strings are not allowed"),
        ("b'1'", "Bytes are not allowed"),
        ("True + 1", "Booleans are not allowed"),
        ("2j", "Complex numbers are not allowed"),
        ("None", "NoneType values are not allowed"),
        ("(lambda: 1)()", "Only calls to functions by bare name"),
        ("lambda: 1", "Lambdas are not allowed"),
        ("[x for x in (1, 2)]", "Comprehensions are not allowed"),
        ("[1, 2][0]", "Subscripts are not allowed"),
        ("(1, 2)", "Tuples are not allowed"),
        ("1 < 2", "Comparisons are not allowed"),
        ("1 and 2", "Boolean operators are not allowed"),
        ("1 if 1 else 2", "Conditional expressions are not allowed"),
        ("(y := 2)", "Assignments are not allowed"),
        ("1 << 5", "The operator LShift is not allowed"),
        ("~1", "The operator Invert is not allowed"),
        ("not 1", "The operator Not is not allowed"),
        ("round(2.5, ndigits=1)", "Keyword arguments are not allowed"),
        ("sqrt(*[4])", "Starred arguments are not allowed"),
        ("eval('1')", "The function 'eval' is not allowed"),
        ("sqrt(1, 2)", "sqrt() takes 1 argument(s); got 2"),
        ("log()", "log() takes 1 or 2 argument(s); got 0"),
        ("round(5, -10**9)", "round() needs a whole number of digits between -100 and 100"),
        ("1 +", "Not a valid arithmetic expression"),
        ("import os", "Not a valid arithmetic expression"),
        ("", "The expression is empty"),
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str, message: str) -> None:
    with pytest.raises(CalculatorError) as caught:
        calculate(expression)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("1 / 0", "Division by zero."),
        ("1 // 0", "Division by zero."),
        ("5 % 0", "Division by zero."),
        ("0 ** -1", "Division by zero."),
        ("1.0 / 0.0", "Division by zero."),
        ("sqrt(-1)", "Math error: math domain error."),
        ("log(0)", "Math error: math domain error."),
        ("(-8) ** (1/3)", "The result is not a real number."),
        ("exp(1000)", "The result is too large"),
        ("10.0 ** 400", "The result is too large"),
        ("1e308 * 10", "The result is too large or not a number."),
        ("1e999", "The result is too large or not a number."),
        ("10 ** 1000 / 3", "The result is too large"),
        ("9**9**9", "Exponents larger than 10000 are not allowed."),
        ("2 ** 10001", "Exponents larger than 10000 are not allowed."),
        ("10 ** 1001", "The result would have more than 1000 digits."),
        ("10**1000 * 10**1000", "The result is too large for the calculator."),
    ],
)
def test_calculator_reports_math_failures_and_refuses_huge_work(
    expression: str, message: str
) -> None:
    with pytest.raises(CalculatorError) as caught:
        calculate(expression)
    assert str(caught.value).startswith(message)


def test_calculator_allows_the_largest_permitted_power() -> None:
    assert calculate("10 ** 1000") == 10**1000
    assert calculate("10 ** -2000") == 0.0


def test_calculator_refuses_long_expressions_before_parsing() -> None:
    assert calculate("+".join(["1"] * 250)) == 250  # 499 characters
    with pytest.raises(CalculatorError, match="501 characters; at most 500"):
        calculate("1" + "+1" * 250)


def test_calculator_survives_deep_nesting() -> None:
    assert calculate("-" * 498 + "1") == 1
    with pytest.raises(CalculatorError, match="Not a valid arithmetic expression"):
        calculate("(" * 210 + "1" + ")" * 210)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (42, "42"),
        (42.0, "42"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1 / 3, "0.333333333333333"),
        (2.5, "2.5"),
        (1e16, "1e+16"),
        (1e-7, "1e-07"),
        (10**20, "100000000000000000000"),
    ],
)
def test_numbers_are_formatted_for_people(value: float, shown: str) -> None:
    assert format_number(value) == shown


# --- current_time ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, "2026-11-26T06:38:38+00:00 (Thursday, UTC)"),
        ({"timezone": None}, "2026-11-26T06:38:38+00:00 (Thursday, UTC)"),
        ({"timezone": "Asia/Shanghai"}, "2026-11-26T14:38:38+08:00 (Thursday, Asia/Shanghai)"),
        (
            {"timezone": "America/New_York"},
            "2026-11-26T01:38:38-05:00 (Thursday, America/New_York)",
        ),
        (
            {"timezone": "Pacific/Honolulu"},
            "2026-11-25T20:38:38-10:00 (Wednesday, Pacific/Honolulu)",
        ),
    ],
)
def test_current_time_uses_the_injected_clock_and_zone(
    arguments: dict[str, object], expected: str
) -> None:
    assert run_current_time(arguments, now=lambda: FIXED_NOW) == expected


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "asia/shanghai_x", "../etc/passwd", "Asia"])
def test_current_time_reports_an_unknown_zone_as_text(zone: str) -> None:
    result = run_current_time({"timezone": zone}, now=lambda: FIXED_NOW)
    assert result == (f"Error: unknown time zone {zone!r}; use an IANA name such as Asia/Shanghai.")


def test_current_time_refuses_a_non_string_zone() -> None:
    result = run_current_time({"timezone": 8}, now=lambda: FIXED_NOW)
    assert result == 'Error: "timezone" must be a string such as Asia/Shanghai.'


def test_current_time_from_the_registry_uses_the_real_clock() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = run_builtin("current_time", '{"timezone": "UTC"}')
    after = datetime.now(UTC)
    stamp, rest = result.split(" ", 1)
    moment = datetime.fromisoformat(stamp)
    assert before <= moment <= after
    assert rest == f"({moment.strftime('%A')}, UTC)"


# --- run_builtin and the registry --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("calculator", '{"expression": "(2+3)*4/5"}', "4"),
        ("calculator", '{"expression": "1/3"}', "0.333333333333333"),
        ("calculator", '{"expression": "2**64"}', "18446744073709551616"),
        ("calculator", '{"expression": "1/0"}', "Error: Division by zero."),
        ("calculator", '{"expression": "__import__(\'os\')"}', "Error: The function '__import__'"),
        ("calculator", "{}", 'Error: The calculator needs an "expression" string.'),
        ("calculator", '{"expression": 12}', 'Error: The calculator needs an "expression" string.'),
        ("calculator", '{"expression": "2+', "Error: the arguments are not a JSON object: "),
        ("calculator", "[1, 2]", "Error: the arguments are not a JSON object: got an array."),
        ("calculator", '"2+2"', "Error: the arguments are not a JSON object: got a string."),
        ("calculator", "null", "Error: the arguments are not a JSON object: got null."),
        ("current_time", "", "20"),
        ("current_time", '{"timezone": "Nowhere/Land"}', "Error: unknown time zone 'Nowhere/Land'"),
    ],
)
def test_run_builtin_returns_results_and_errors_as_text(
    name: str, arguments: str, expected: str
) -> None:
    assert run_builtin(name, arguments).startswith(expected)


def test_run_builtin_bad_json_names_the_parse_problem() -> None:
    result = run_builtin("calculator", "{expression: 1}")
    assert result == (
        "Error: the arguments are not a JSON object: "
        "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )


def test_run_builtin_raises_for_an_unknown_tool() -> None:
    with pytest.raises(KeyError):
        run_builtin("shell", '{"command": "rm -rf /"}')


def test_builtin_registry_specs_match_their_names_and_validate() -> None:
    assert list(BUILTIN_TOOLS) == ["calculator", "current_time"]
    assert {name: tool.label for name, tool in BUILTIN_TOOLS.items()} == {
        "calculator": "Calculator",
        "current_time": "Current time",
    }
    for name, tool in BUILTIN_TOOLS.items():
        assert tool.spec.name == name
        spec = tool.spec
        assert validate_function(spec.name, spec.description, json.dumps(spec.parameters)) == spec
    validate_tools([tool.spec for tool in BUILTIN_TOOLS.values()])


def test_calculator_spec_is_sent_exactly() -> None:
    parameters = BUILTIN_TOOLS["calculator"].spec.to_api()["function"]["parameters"]
    assert parameters == {
        "type": "object",
        "properties": {
            "expression": {"type": "string", "description": "Arithmetic such as (2+3)*4/5 or 2**10"}
        },
        "required": ["expression"],
    }


def test_builtin_specs_keep_the_requested_order() -> None:
    assert [spec.name for spec in builtin_specs(["current_time", "calculator"])] == [
        "current_time",
        "calculator",
    ]
    assert builtin_specs([]) == []


def test_builtin_specs_refuse_unknown_names() -> None:
    with pytest.raises(InvalidParameter) as caught:
        builtin_specs(["calculator", "shell", "web"])
    assert caught.value.field == "builtin_tools"
    assert str(caught.value) == (
        "Unknown built-in tool(s) 'shell', 'web'; choose from calculator, current_time."
    )


# --- format_arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ('{"city":"上海","days":3}', '{\n  "city": "上海",\n  "days": 3\n}'),
        ("{}", "{}"),
        ("[1]", "[\n  1\n]"),
        ('{"city": "上', '{"city": "上'),
        ("", ""),
        ("not json", "not json"),
    ],
)
def test_format_arguments_pretty_prints_only_valid_json(raw: str, shown: str) -> None:
    assert format_arguments(raw) == shown
