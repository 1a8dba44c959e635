"""Built-in tools the app answers itself, and running them for a model's call."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chatcore.errors import InvalidParameter
from chatcore.i18n import N_
from chatcore.tools.calculator import run_calculator
from chatcore.tools.clock import run_current_time
from chatcore.tools.functions import FunctionSpec, json_kind

# --- Registry ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A tool the app answers itself, so it must be side-effect free and quick.

    The spec (name, description, parameters) is what the model reads, in English, as the API
    is sent it; `label` and `run_label` are what a person reads, marked for the catalogue and
    translated where drawn.
    """

    spec: FunctionSpec
    label: str
    run: Callable[[dict[str, Any]], str]
    run_label: str = N_("Run tool")


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
        label=N_("Calculator"),
        run=run_calculator,
        run_label=N_("Run calculator"),
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
        label=N_("Current time"),
        run=run_current_time,
        run_label=N_("Run current time"),
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
        return f"Error: the arguments are not a JSON object: got {json_kind(arguments)}."
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
            N_("Unknown built-in tool(s) {names}; choose from {choices}."),
            code="unknown_builtin_tool",
            names=", ".join(repr(n) for n in unknown),
            choices=", ".join(BUILTIN_TOOLS),
        )
    return [BUILTIN_TOOLS[name].spec for name in names]
