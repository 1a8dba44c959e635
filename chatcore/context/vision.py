"""Whether a model takes images, so the page can warn before sending one it would refuse.

The /models list of an OpenAI-compatible server does not say, so this is a table of the
families whose answer is known. Unknown models get None and no warning: a wrong warning
on a model that sees would teach people to ignore it, and the upstream's own refusal is
explained plainly anyway. Markers in the name ("-vl", "vision") win over the family,
because vendors mark their vision variants that way ("moonshot-v1-8k-vision-preview").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from chatcore.context.names import by_longest_prefix, model_key

_VISION_MARKER = re.compile(r"vision|(?:^|[-_.])vl(?:$|[-_.\d])")

# Family prefix (lower case, no vendor path) -> sees images. The longest matching prefix wins;
# None marks a family member whose answer is not known even though its family's is.
SEES_IMAGES: Mapping[str, bool | None] = MappingProxyType(
    {
        # OpenAI
        "gpt-3.5": False,
        "gpt-4": False,  # plain GPT-4 and its dated ids (-0613, -32k, -1106-preview)
        "gpt-4-turbo": True,
        "gpt-4-turbo-preview": False,
        "gpt-4o": True,
        "gpt-4o-audio": False,
        "gpt-4o-mini-audio": False,
        "gpt-4o-realtime": False,
        "gpt-4o-mini-realtime": False,
        "gpt-4o-transcribe": False,
        "gpt-4o-mini-transcribe": False,
        "gpt-4o-mini-tts": False,
        "gpt-4o-search": None,
        "gpt-4o-mini-search": None,
        "chatgpt-4o": True,
        "gpt-4.1": True,
        "gpt-4.5": True,
        "gpt-5": True,
        "o1": True,
        "o1-mini": False,
        "o1-preview": False,
        "o3": True,
        "o3-mini": False,
        "o4-mini": True,
        "text-embedding": False,
        "whisper": False,
        "tts": False,
        "dall-e": False,
        # Anthropic
        "claude-3": True,
        "claude-3-5-haiku": None,  # text only at launch
        "claude-4": True,
        "claude-sonnet-4": True,
        "claude-opus-4": True,
        "claude-haiku-4": True,
        # Google
        "gemini": True,
        "gemini-embedding": False,
        # Chinese vendors
        "deepseek-chat": False,
        "deepseek-reasoner": False,
        "qwen-max": False,
        "qwen-plus": False,
        "qwen-turbo": False,
        "qwen-vl": True,
        "glm-4": False,
        "glm-4v": True,
        "glm-4.1v": True,
        "glm-4.5v": True,
        "glm-4.6v": True,
        "moonshot-v1-": False,
        # Open-weight vision families
        "llava": True,
        "internvl": True,
        "pixtral": True,
    }
)


def sees_images(model: str) -> bool | None:
    """True if `model` is known to take image parts, False if known not to, None if unknown."""
    if _VISION_MARKER.search(model_key(model)):
        return True
    return by_longest_prefix(model, SEES_IMAGES)
