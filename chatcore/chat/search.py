"""Search over a person's own conversations: the query as typed, checked and split into the
terms storage/search.py looks for."""

from __future__ import annotations

import unicodedata

from chatcore.errors import SearchError
from chatcore.i18n import N_
from storage import SearchPage, SearchRepository
from storage.search import fold

MAX_QUERY_CHARS = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def search_terms(query: str) -> list[str]:
    """The whitespace-separated terms of `query`, each once.

    Control characters separate terms too (none can be typed, and the index's end marker is
    one). A term inside another (模型 within 模型训练) adds nothing and is dropped.
    """
    cleaned = "".join(" " if unicodedata.category(char) == "Cc" else char for char in query)
    length = len(cleaned.strip())
    if length > MAX_QUERY_CHARS:
        raise SearchError(
            N_("A search can be at most {limit} characters long; this one has {length}."),
            code="search_query_too_long",
            limit=MAX_QUERY_CHARS,
            length=length,
        )
    unique = list(dict.fromkeys(cleaned.split()))
    folded = [fold(term) for term in unique]
    terms = [
        term
        for index, term in enumerate(unique)
        if not any(
            folded[index] in other and (folded[index] != other or other_index < index)
            for other_index, other in enumerate(folded)
            if other_index != index
        )
    ]
    if not terms:
        raise SearchError(N_("Type a word to search for."), code="search_query_empty")
    return terms


class SearchService:
    """Finds a person's conversations by their messages and titles, never anyone else's,
    never temporary ones; archived ones are found and marked."""

    def __init__(self, repository: SearchRepository) -> None:
        self.repository = repository

    def search(self, user_id: int, query: str, limit: int = DEFAULT_LIMIT) -> SearchPage:
        """Up to `limit` conversations (at most MAX_LIMIT) matching every term of `query`,
        newest first. Raises SearchError for an empty query or one over MAX_QUERY_CHARS."""
        terms = search_terms(query)
        return self.repository.search(user_id, terms, limit=max(1, min(limit, MAX_LIMIT)))
