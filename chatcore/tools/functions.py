"""Function tools the user defines: specs checked before they reach the API."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chatcore.errors import InvalidParameter
from chatcore.i18n import N_

MAX_TOOLS = 128
MAX_DESCRIPTION_CHARS = 1024

_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FUNCTION_PREFIX = "function:"


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
        raise InvalidParameter(
            "tools", N_("Give the function a name."), code="function_name_missing"
        )
    if not _NAME_PATTERN.fullmatch(name):
        raise InvalidParameter(
            "tools",
            N_(
                "Function name {name!r} is not allowed: use {fewest}–{most} letters (A–Z, a–z), "
                "digits, underscores or hyphens, with no spaces."
            ),
            code="function_name_invalid",
            name=name,
            fewest=1,
            most=64,
        )
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidParameter(
            "tools",
            N_("The description of {name!r} is {length} characters; at most {limit} are allowed."),
            code="function_description_too_long",
            name=name,
            length=len(description),
            limit=MAX_DESCRIPTION_CHARS,
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
            N_(
                "The parameters of {name!r} are not valid JSON: {detail} "
                "at line {line}, column {column}."
            ),
            code="function_parameters_not_json",
            name=name,
            detail=exc.msg,
            line=exc.lineno,
            column=exc.colno,
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidParameter(
            "tools",
            N_("The parameters of {name!r} are not valid JSON: {detail}."),
            code="function_parameters_unreadable",
            name=name,
            detail=str(exc),
        ) from exc
    if not isinstance(schema, dict):
        raise InvalidParameter(
            "tools",
            N_(
                "The parameters of {name!r} must be a JSON object (a JSON Schema), "
                "not a JSON {kind}."
            ),
            code="function_parameters_not_object",
            name=name,
            kind=json_kind(schema).split()[-1],  # the JSON type's name: array, string, null
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
            N_('The parameters of {name!r} must have "type": "object"; got {given}.'),
            code="function_parameters_not_object_type",
            name=name,
            type=schema["type"],
            given=json.dumps(schema["type"], ensure_ascii=False),
        )
    if "$schema" in schema and not isinstance(schema["$schema"], str):
        raise InvalidParameter(
            "tools",
            N_('"$schema" in the parameters of {name!r} must be a URI.'),
            code="function_schema_uri",
            name=name,
        )
    # An explicit default: an unknown $schema falls back to the latest draft without a warning.
    validator = validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(part) for part in exc.absolute_path) or "the top level"
        raise InvalidParameter(
            "tools",
            N_("The parameters of {name!r} are not a valid JSON Schema: {detail} (at {where})."),
            code="function_schema_invalid",
            name=name,
            detail=exc.message,
            where=where,
        ) from exc
    properties = schema.get("properties", {})
    missing = [item for item in schema.get("required", []) if item not in properties]
    if missing:
        listed = ", ".join(repr(item) for item in missing)
        raise InvalidParameter(
            "tools",
            N_(
                '"required" in the parameters of {name!r} lists {missing}, '
                'which is not in "properties".'
            ),
            code="function_required_unknown",
            name=name,
            missing=listed,
        )


def json_kind(value: object) -> str:
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return kinds.get(type(value), "a number")


def validate_tools(specs: Sequence[FunctionSpec]) -> None:
    """The API refuses the whole request over one bad list, so check the list as a whole."""
    if len(specs) > MAX_TOOLS:
        raise InvalidParameter(
            "tools",
            N_("At most {limit} tools can be sent; there are {count}."),
            code="too_many_tools",
            limit=MAX_TOOLS,
            count=len(specs),
        )
    seen: set[str] = set()
    duplicates: list[str] = []
    for spec in specs:
        if spec.name in seen and spec.name not in duplicates:
            duplicates.append(spec.name)
        seen.add(spec.name)
    if duplicates:
        listed = ", ".join(repr(name) for name in duplicates)
        raise InvalidParameter(
            "tools",
            N_("Tool names must be unique; repeated: {names}."),
            code="tool_names_repeated",
            names=listed,
        )


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
            raise InvalidParameter(
                "tool_choice",
                N_("tool_choice function:<name> needs a name."),
                code="tool_choice_unnamed",
            )
        if name not in tool_names:
            available = ", ".join(tool_names)
            raise InvalidParameter(
                "tool_choice",
                N_("tool_choice names function {name!r}, which is not among the tools ({tools})."),
                code="tool_choice_unknown_function",
                name=name,
                tools=available,
            )
        return {"type": "function", "function": {"name": name}}
    raise InvalidParameter(
        "tool_choice",
        N_("tool_choice must be none, auto, required or function:<name>; got {choice!r}."),
        code="tool_choice_invalid",
        choice=choice,
    )


def _require_tools(tool_names: Sequence[str]) -> None:
    if not tool_names:
        raise InvalidParameter(
            "tool_choice",
            N_("tool_choice needs at least one tool."),
            code="tool_choice_without_tools",
        )


def format_arguments(arguments_json: str) -> str:
    """Shown in the chat, where a half-streamed or broken call should still be readable."""
    try:
        parsed = json.loads(arguments_json)
    except (ValueError, RecursionError):
        return arguments_json
    return json.dumps(parsed, indent=2, ensure_ascii=False)
