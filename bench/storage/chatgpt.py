"""A ChatGPT data export (`conversations.json`) to import: conversations as ChatGPT writes
them, an empty root and a hidden system message above each thread, a regenerated answer now
and then, in the same mixed English and Chinese as the library."""

from __future__ import annotations

import json
import random
from typing import Any

from bench.storage.text import TextPool

START = 1_733_000_000.0  # seconds since 1970: December 2024


def _node(
    node_id: str, parent: str | None, role: str | None, text: str, moment: float
) -> dict[str, Any]:
    message = None
    if role is not None:
        message = {
            "id": node_id,
            "author": {"role": role, "name": None, "metadata": {}},
            "create_time": moment,
            "update_time": None,
            "content": {"content_type": "text", "parts": [text]},
            "status": "finished_successfully",
            "end_turn": role == "assistant" or None,
            "weight": 1.0,
            "metadata": (
                {"model_slug": "gpt-4o", "finish_details": {"type": "stop"}}
                if role == "assistant"
                else ({"is_visually_hidden_from_conversation": True} if role == "system" else {})
            ),
            "recipient": "all",
            "channel": None,
        }
    return {"id": node_id, "message": message, "parent": parent, "children": []}


def _conversation(index: int, messages: int, rng: random.Random, pool: TextPool) -> dict[str, Any]:
    moment = START + index * 3600.0
    mapping: dict[str, dict[str, Any]] = {}

    def add(role: str | None, text: str, parent: str | None) -> str:
        nonlocal moment
        moment += rng.randint(5, 300)
        node_id = f"c{index}-n{len(mapping)}"
        mapping[node_id] = _node(node_id, parent, role, text, moment)
        if parent is not None:
            mapping[parent]["children"].append(node_id)
        return node_id

    current = add("system", "", add(None, "", None))
    written = 0
    first_question = ""
    while written < messages:
        question = pool.question(rng)
        first_question = first_question or question
        current = add("user", question, current)
        written += 1
        if written < messages and rng.random() < 0.08 and written + 2 <= messages:
            add("assistant", pool.reply(rng), current)  # the answer regenerated
            written += 1
        if written < messages:
            current = add("assistant", pool.reply(rng), current)
            written += 1
    return {
        "title": first_question[:40],
        "create_time": START + index * 3600.0,
        "update_time": moment,
        "mapping": mapping,
        "current_node": current,
        "conversation_id": f"00000000-0000-4000-8000-{index:012d}",
        "default_model_slug": "gpt-4o",
        "is_archived": False,
        "id": f"00000000-0000-4000-8000-{index:012d}",
    }


def chatgpt_export(conversations: int, messages: int, *, seed: int) -> bytes:
    """`conversations.json` holding `conversations` of `messages` messages each."""
    rng = random.Random(f"chatgpt-{seed}")
    pool = TextPool(seed)
    document = [_conversation(index, messages, rng, pool) for index in range(conversations)]
    return json.dumps(document, ensure_ascii=False).encode()
