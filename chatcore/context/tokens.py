"""Counting the tokens of a chat request offline, before it is sent.

`tiktoken` downloads its encodings on first use, which a server on an intranet cannot do;
`bpe_openai` ships OpenAI's encodings inside the package. Importing it and building
o200k_base takes about 0.8 s, so it loads lazily, once per process, under a lock, and the
app calls `warm_up()` from a background thread at start so the first request never waits.
If it cannot load, counts fall back to `estimate_tokens` (logged once): about one token per
CJK character and one per four other characters, which is close to o200k for English and
above it for Chinese.

Exact only for OpenAI. Other vendors' tokenizers differ (Claude's, Llama's and others' often
need more tokens for Chinese), so every count takes the model's name, and for a model not
known to use o200k_base or cl100k_base it adds SAFETY_MARGIN (10 %) to each text and image
(with no model given, o200k's counts as they are);
`fit_messages` passes the model through and trusts the counts as they are. The margin is a
compromise: a vendor whose tokenizer needs far more than o200k for some text can still be
refused for length, and an administrator can then lower that model's context window.

Messages are counted the way OpenAI documents for gpt-4o-style chat: 3 tokens per message
plus its role, content and name (1 more for a name), and 3 more for the reply's priming.
Images count by OpenAI's high-detail formula (`image_tokens`), from the size carried in
AnyChat's placeholder URL or read from a data: URL's bytes; an image of unknown size counts
UNKNOWN_IMAGE_TOKENS. Tool calls count as their JSON, which is a little above what the model
reads and so errs on the safe side.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import importlib
import io
import json
import logging
import math
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chatcore.context.names import by_longest_prefix

log = logging.getLogger(__name__)

O200K = "o200k_base"
CL100K = "cl100k_base"
# Model families whose own tokenizer is one of the two we ship; the rest get SAFETY_MARGIN.
ENCODINGS: Mapping[str, str] = {
    "gpt-4o": O200K,
    "chatgpt-4o": O200K,
    "gpt-4.1": O200K,
    "gpt-4.5": O200K,
    "gpt-5": O200K,
    "gpt-oss": O200K,
    "o1": O200K,
    "o3": O200K,
    "o4": O200K,
    "gpt-4": CL100K,
    "gpt-3.5": CL100K,
    "text-embedding-3": CL100K,
    "text-embedding-ada-002": CL100K,
}
SAFETY_MARGIN = 0.10

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

LOW_DETAIL_IMAGE_TOKENS = 85
TILE_TOKENS = 170
UNKNOWN_IMAGE_TOKENS = 1_105  # a 2048x4096 image at high detail: OpenAI's documented example

_PLACEHOLDER = re.compile(
    r"^anychat-attachment:(?P<sha>[0-9a-f]{64})/(?P<width>\d+)x(?P<height>\d+)/(?P<media>.+)$"
)
_DATA_URL = re.compile(r"^data:[^,]*;base64,", re.IGNORECASE)

# Han, kana, Hangul, CJK punctuation and full-width forms: about a token each.
_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]"
)

# bpe_openai refuses texts of a million characters or more and results over 200,000 tokens;
# 40,000 characters can never reach that (at most 4 bytes, so 4 tokens, a character).
_CHUNK_CHARS = 40_000
_TOKENIZER_PACKAGE = "bpe_openai"
_CACHE_ENTRIES = 20_000
_CACHE_KEY_CHARS = 256

_load_lock = threading.Lock()
_encoders: dict[str, Callable[[str], list[int]] | None] = {}
_fallback_logged = False
_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[str, object], int] = OrderedDict()


def warm_up() -> None:
    """Load the tokenizer now (about 0.8 s), so the first count does not wait for it."""
    _encoder(O200K)


def estimate_tokens(text: str) -> int:
    """The documented fallback: a token per CJK character, a token per four other
    characters, rounded up."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def image_tokens(width: int, height: int, detail: str = "high") -> int:
    """OpenAI's cost of an image: 85 at low detail; otherwise scaled to fit 2048x2048, then
    its shortest side to 768 (only ever down), 170 per 512-px tile plus 85. "auto" counts as
    high, the most it can cost."""
    if detail == "low":
        return LOW_DETAIL_IMAGE_TOKENS
    if width <= 0 or height <= 0:
        return UNKNOWN_IMAGE_TOKENS
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = w * scale, h * scale
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = w * scale, h * scale
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return TILE_TOKENS * tiles + LOW_DETAIL_IMAGE_TOKENS


def placeholder_size(url: str) -> tuple[int, int] | None:
    """(width, height) from an `anychat-attachment:<sha256>/<w>x<h>/<media_type>` URL."""
    match = _PLACEHOLDER.match(url)
    return None if match is None else (int(match["width"]), int(match["height"]))


def data_url_size(url: str) -> tuple[int, int] | None:
    """(width, height) of a data: URL's image, read from its header; None if unreadable."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    from PIL import Image  # only a data: URL needs it, and few do

    try:
        data = base64.b64decode(url[match.end() :], validate=False)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            return width, height
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError):
        return None


def _encoder(name: str) -> Callable[[str], list[int]] | None:
    if name in _encoders:
        return _encoders[name]
    with _load_lock:
        if name not in _encoders:
            _encoders[name] = _load(name)
        return _encoders[name]


def _load(name: str) -> Callable[[str], list[int]] | None:
    global _fallback_logged
    try:
        with warnings.catch_warnings():
            # bpe_openai 0.1.4 reads its tables with importlib.resources.open_binary, which
            # warns on Python 3.11+; harmless, and not ours to fix.
            warnings.filterwarnings("ignore", "open_binary is deprecated", DeprecationWarning)
            package: Any = importlib.import_module(_TOKENIZER_PACKAGE)
            encode: Callable[[str], list[int]] = package.get_encoding(name).encode_ordinary
        return encode
    except Exception:
        if not _fallback_logged:
            _fallback_logged = True
            log.warning(
                "The offline tokenizer (%s, %s) did not load; token counts are estimates.",
                _TOKENIZER_PACKAGE,
                name,
                exc_info=True,
            )
        return None


def _chunks(text: str) -> Iterable[str]:
    """Pieces short enough for the tokenizer, cut before a space where there is one, where
    o200k would start a new token anyway."""
    start = 0
    while len(text) - start > _CHUNK_CHARS:
        end = start + _CHUNK_CHARS
        half = start + _CHUNK_CHARS // 2
        cut = max(text.rfind(" ", half, end), text.rfind("\n", half, end))
        cut = cut if cut > start else end
        yield text[start:cut]
        start = cut
    yield text[start:]


def _raw_count(encoding: str, text: str) -> int:
    """Tokens of `text` in `encoding` (or the estimate), remembered for the next request:
    a thread is counted again on every turn, and most of it has not changed."""
    if not text:
        return 0
    digest: object = (
        text
        if len(text) <= _CACHE_KEY_CHARS
        else hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    )
    key = (encoding, digest)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    encode = _encoder(encoding)
    try:
        count = (
            estimate_tokens(text)
            if encode is None
            else sum(len(encode(piece)) for piece in _chunks(text))
        )
    except Exception:  # a text the tokenizer chokes on must not stop the reply
        log.exception("The tokenizer failed on a text of %d characters", len(text))
        count = estimate_tokens(text)
    with _cache_lock:
        _cache[key] = count
        if len(_cache) > _CACHE_ENTRIES:
            _cache.popitem(last=False)
    return count


@functools.lru_cache(maxsize=256)
def _rules(model: str) -> tuple[str, bool]:
    """(encoding, exact) for `model`: its own encoding when we ship it, else o200k with the
    margin; no model at all means o200k's counts as they are."""
    if not model.strip():
        return O200K, True
    known = by_longest_prefix(model, ENCODINGS)
    return (known, True) if known is not None else (O200K, False)


def counts_exactly(model: str) -> bool:
    """Whether counts for `model` are its own tokenizer's, with no margin added."""
    return _rules(model)[1]


class TokenCounter:
    """Counts what a request will use, for `model` when given: exact for OpenAI's models,
    with SAFETY_MARGIN added for the others (see the module's docstring). It holds nothing
    of its own (the tokenizer and the cache are the process's), so one serves every thread."""

    def warm_up(self) -> None:
        warm_up()

    def count_text(self, text: str, *, model: str = "") -> int:
        encoding, exact = _rules(model)
        return _scaled(_raw_count(encoding, text), exact)

    def count_image(self, url: str, detail: str = "high", *, model: str = "") -> int:
        """An image part's tokens, from the size its URL gives or its data: bytes."""
        size = placeholder_size(url) or data_url_size(url)
        tokens = UNKNOWN_IMAGE_TOKENS if size is None else image_tokens(*size, detail=detail)
        return _scaled(tokens, _rules(model)[1])

    def count_content(self, content: object, *, model: str = "") -> int:
        """A message's content: a string, or a list of text and image parts."""
        if content is None:
            return 0
        if isinstance(content, str):
            return self.count_text(content, model=model)
        if not isinstance(content, list):
            return self.count_text(_json(content), model=model)
        total = 0
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind in ("text", "input_text") and isinstance(part.get("text"), str):
                total += self.count_text(part["text"], model=model)
            elif kind == "image_url":
                image = part.get("image_url")
                image = image if isinstance(image, Mapping) else {"url": image}
                detail = str(image.get("detail") or "auto")
                total += self.count_image(str(image.get("url") or ""), detail, model=model)
            else:  # a part we do not know: its JSON, which is at least what it costs
                total += self.count_text(_json(part), model=model)
        return total

    def count_message(self, message: Mapping[str, Any], *, model: str = "") -> int:
        """One message with its overhead, not counting the reply's priming."""
        total = TOKENS_PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            if key == "content":
                total += self.count_content(value, model=model)
            elif isinstance(value, str):  # role, name, tool_call_id, refusal
                total += self.count_text(value, model=model)
                if key == "name":
                    total += TOKENS_PER_NAME
            else:  # tool_calls, a legacy function_call
                total += self.count_text(_json(value), model=model)
        return total

    def count_messages(self, messages: Iterable[Mapping[str, Any]], *, model: str = "") -> int:
        """A whole request's messages, the reply's priming included."""
        return REPLY_PRIMING + sum(self.count_message(item, model=model) for item in messages)


class ByteBound(TokenCounter):
    """At least as many tokens as any count could give, with no tokenizer: a byte-level BPE
    token (o200k, cl100k, and the byte-fallback tokenizers of other vendors) covers one UTF-8
    byte at least, so a text's bytes bound its tokens. A request that fits by this measure fits
    by any, and most do (a chat is far shorter than a 128k window): the tokenizer, 0.7 s to
    load and some 130 MB once loaded, is needed only for conversations near the limit."""

    def count_text(self, text: str, *, model: str = "") -> int:
        return _scaled(len(text.encode("utf-8", "surrogatepass")), _rules(model)[1])


def _scaled(tokens: int, exact: bool) -> int:
    return tokens if exact else math.ceil(tokens * (1 + SAFETY_MARGIN))


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
