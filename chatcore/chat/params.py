"""Request parameters: validated once, and only the ones a user actually set are sent.

Every optional field defaults to "not sent", so the server's own default applies; nothing is
filled in on the user's behalf. The field names follow the API's, so a stored conversation's
settings read like the request they produce.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from chatcore.chat.blanks import blanks
from chatcore.errors import InvalidParameter
from chatcore.i18n import N_
from chatcore.tools.builtin import builtin_specs
from chatcore.tools.functions import FunctionSpec, validate_tool_choice, validate_tools

TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MAX_TOKENS_RANGE = (1, 1_000_000)
PENALTY_RANGE = (-2.0, 2.0)
CHOICES_RANGE = (1, 8)
LOGIT_BIAS_RANGE = (-100, 100)
SEED_RANGE = (-(2**63), 2**63 - 1)
MAX_STOP_SEQUENCES = 4
MAX_LOGIT_BIAS_ENTRIES = 300
JSON_MODE = {"type": "json_object"}


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """What a conversation asks the model for. None (or empty) means "not sent"."""

    model: str
    system_prompt: str = ""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stream: bool = True
    n: int | None = None
    stop: tuple[str, ...] = ()
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, int] | None = None
    seed: int | None = None
    json_mode: bool = False
    # Custom functions as {"name", "description", "parameters"}; built-ins by name.
    tools: tuple[dict[str, Any], ...] = ()
    builtin_tools: tuple[str, ...] = ()
    # None (not sent), "none", "auto", "required" or "function:<name>".
    tool_choice: str | None = None

    def validate(self, *, blanks_allowed: bool = False) -> None:
        """Refuse what the API would refuse, and a system prompt with blanks still to fill.

        `blanks_allowed` is for keeping settings (a preset, a stored conversation), where a
        `{{name}}` blank is what is meant; anything that sends validates without it, so no
        way of sending can pass a blank to the model.
        """
        if not self.model.strip():
            raise InvalidParameter("model", N_("Choose a model."), code="model_missing")
        unfilled = [] if blanks_allowed else blanks(self.system_prompt)
        if unfilled:
            raise InvalidParameter(
                "system_prompt",
                N_("The system prompt still has blanks to fill: {names}."),
                code="system_prompt_blanks",
                names=", ".join(unfilled),
            )
        _check_range("temperature", self.temperature, TEMPERATURE_RANGE)
        _check_range("top_p", self.top_p, TOP_P_RANGE)
        _check_whole("max_tokens", self.max_tokens, MAX_TOKENS_RANGE)
        _check_whole("n", self.n, CHOICES_RANGE)
        check_stop(self.stop)
        _check_range("presence_penalty", self.presence_penalty, PENALTY_RANGE)
        _check_range("frequency_penalty", self.frequency_penalty, PENALTY_RANGE)
        if self.logit_bias is not None:
            check_logit_bias(self.logit_bias)
        _check_whole("seed", self.seed, SEED_RANGE)
        specs = self.function_specs()
        validate_tools(specs)
        validate_tool_choice(self.tool_choice, [spec.name for spec in specs])

    def function_specs(self) -> list[Any]:
        """Built-in tools first, then the user's own, as FunctionSpec values."""

        custom = [FunctionSpec.from_json(entry) for entry in self.tools]
        return [*builtin_specs(self.builtin_tools), *custom]

    def request_fields(self) -> dict[str, Any]:
        """The optional request fields the user set, exactly as set, in the spec's order."""

        specs = self.function_specs()
        values: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "n": self.n,
            "stop": list(self.stop) if self.stop else None,
            "max_tokens": self.max_tokens,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "logit_bias": dict(self.logit_bias) if self.logit_bias is not None else None,
            "response_format": dict(JSON_MODE) if self.json_mode else None,
            "seed": self.seed,
            "tools": [spec.to_api() for spec in specs] or None,
            "tool_choice": validate_tool_choice(self.tool_choice, [spec.name for spec in specs]),
        }
        return {name: value for name, value in values.items() if value is not None}

    @property
    def choices(self) -> int:
        return self.n or 1

    def to_settings(self) -> dict[str, Any]:
        """The JSON stored on a conversation (or a preset) so it reopens with its settings."""
        settings = asdict(self)
        for name in ("stop", "tools", "builtin_tools"):
            settings[name] = list(settings[name])
        return settings

    @classmethod
    def from_settings(cls, settings: dict[str, Any], default_model: str) -> GenerationParams:
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in settings.items() if key in known}
        for name in ("stop", "tools", "builtin_tools"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        if isinstance(values.get("stop"), str):  # the API's single-string form
            values["stop"] = (values["stop"],)
        values.setdefault("model", default_model)
        try:
            params = cls(**values)
            params.validate(blanks_allowed=True)
        except (InvalidParameter, TypeError, AttributeError, KeyError, ValueError):
            # Stored settings from an older release must never stop a conversation opening.
            model = values.get("model") if isinstance(values.get("model"), str) else None
            prompt = values.get("system_prompt")
            return cls(
                model=model or default_model,
                system_prompt=prompt if isinstance(prompt, str) else "",
            )
        return params


def check_stop(stop: tuple[str, ...]) -> None:
    if len(stop) > MAX_STOP_SEQUENCES:
        raise InvalidParameter(
            "stop",
            N_("At most {limit} stop sequences are allowed; there are {count}."),
            code="too_many_stop_sequences",
            limit=MAX_STOP_SEQUENCES,
            count=len(stop),
        )
    for position, sequence in enumerate(stop, start=1):
        if not isinstance(sequence, str) or sequence == "":
            raise InvalidParameter(
                "stop",
                N_("Stop sequence {position} is empty."),
                code="empty_stop_sequence",
                position=position,
            )


def parse_stop(text: str) -> tuple[str, ...]:
    r"""Stop sequences typed one per line; `\n` and `\t` stand for a newline and a tab.

    Trailing blank lines are ignored; a blank line between sequences is an empty sequence,
    which check_stop refuses rather than dropping silently.
    """
    lines = text.split("\n")
    while lines and lines[-1].strip() == "":
        lines.pop()
    sequences = tuple(_unescape(line) for line in lines)
    check_stop(sequences)
    return sequences


def format_stop(stop: tuple[str, ...]) -> str:
    return "\n".join(
        sequence.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
        for sequence in stop
    )


def _unescape(line: str) -> str:
    out: list[str] = []
    chars = iter(line)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(following, "\\" + following))
    return "".join(out)


def check_logit_bias(bias: dict[str, int]) -> None:
    if len(bias) > MAX_LOGIT_BIAS_ENTRIES:
        raise InvalidParameter(
            "logit_bias",
            N_("At most {limit} token biases; there are {count}."),
            code="too_many_logit_biases",
            limit=MAX_LOGIT_BIAS_ENTRIES,
            count=len(bias),
        )
    low, high = LOGIT_BIAS_RANGE
    for token, value in bias.items():
        if not isinstance(token, str) or not token.isascii() or not token.isdigit():
            raise InvalidParameter(
                "logit_bias",
                N_('{token!r} is not a token id; keys are whole numbers like "1734".'),
                code="not_a_token_id",
                token=token,
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameter(
                "logit_bias",
                N_("The bias for token {token} must be a whole number; got {value!r}."),
                code="bias_not_whole",
                token=token,
                value=value,
            )
        if not low <= value <= high:
            raise InvalidParameter(
                "logit_bias",
                N_("The bias for token {token} must be between {low} and {high}; got {value}."),
                code="bias_out_of_range",
                token=token,
                low=low,
                high=high,
                value=value,
            )


def parse_logit_bias(text: str) -> dict[str, int] | None:
    """The logit_bias editor's JSON: an object of token id to bias. Blank means not sent."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(
            "logit_bias",
            N_(
                "Logit bias is not valid JSON (line {line}, column {column}: {detail}). "
                'Write an object such as {{"1734": -100, "42": 5}}.'
            ),
            code="logit_bias_not_json",
            line=exc.lineno,
            column=exc.colno,
            detail=exc.msg,
        ) from None
    if not isinstance(value, dict):
        raise InvalidParameter(
            "logit_bias",
            N_('Logit bias must be a JSON object such as {{"1734": -100}}.'),
            code="logit_bias_not_object",
        )
    # Integral floats (5.0) are accepted as whole numbers; anything else is refused.
    value = {
        key: int(bias) if isinstance(bias, float) and bias.is_integer() else bias
        for key, bias in value.items()
    }
    check_logit_bias(value)
    return value


def parse_seed(text: str) -> int | None:
    if not text.strip():
        return None
    if not re.fullmatch(r"-?[0-9]+", text.strip()):
        raise InvalidParameter(
            "seed",
            N_("The seed must be a whole number; got {text!r}."),
            code="seed_not_whole",
            text=text,
        )
    seed = int(text.strip())
    _check_whole("seed", seed, SEED_RANGE)
    return seed


def _check_whole(name: str, value: int | None, bounds: tuple[int, int]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(
            name,
            N_("{field} must be a whole number; got {value!r}."),
            code="not_a_whole_number",
            value=value,
        )
    low, high = bounds
    if not low <= value <= high:
        raise InvalidParameter(
            name,
            N_("{field} must be between {low} and {high}; got {value}."),
            code="whole_number_out_of_range",
            low=low,
            high=high,
            value=value,
        )


def _check_range(name: str, value: float | None, bounds: tuple[float, float]) -> None:
    if value is None:
        return
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidParameter(
            name,
            N_("{field} must be between {low:g} and {high:g}; got {value!r}."),
            code="number_out_of_range",
            low=low,
            high=high,
            value=value,
        )


def mentions_json(texts: list[str]) -> bool:
    """JSON mode needs the word in the conversation, or the model may pad with whitespace."""
    return any("json" in text.lower() for text in texts)
