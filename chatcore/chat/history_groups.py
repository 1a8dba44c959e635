"""The sidebar's conversation list in groups a reader recognises: Pinned, then Today, Yesterday,
Previous 7 days and Older, by each conversation's last activity on the reader's own calendar.

Days are counted on the reader's clock, as calendar dates (never as 24-hour spans), so a
conversation at 23:30 UTC is "Today" in Shanghai the next morning, and a day that is 23 or 25
hours long because of a daylight-saving change is still one day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Generic, Protocol, TypeVar

PINNED = "pinned"
TODAY = "today"
YESTERDAY = "yesterday"
PREVIOUS_7_DAYS = "previous_7_days"
OLDER = "older"
# The groups' ids, in the order the sidebar shows them.
GROUP_ORDER = (PINNED, TODAY, YESTERDAY, PREVIOUS_7_DAYS, OLDER)
RECENT_DAYS = 7  # "Previous 7 days": the days before yesterday, up to a week back


class Dated(Protocol):
    """What grouping needs of a conversation (ConversationRecord has both)."""

    @property
    def pinned(self) -> bool: ...

    @property
    def updated_at(self) -> datetime: ...


T = TypeVar("T", bound=Dated)


@dataclass(frozen=True, slots=True)
class HistoryGroup(Generic[T]):
    """One heading of the list: a stable id (one of GROUP_ORDER) and its conversations."""

    id: str
    items: list[T] = field(default_factory=list)


def _on_clock(moment: datetime, zone: tzinfo) -> datetime:
    # Naive datetimes from the database are UTC.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone)


def group_id(conversation: Dated, now: datetime, zone: tzinfo) -> str:
    """Which group `conversation` belongs in at `now`, for a reader in `zone`."""
    if conversation.pinned:
        return PINNED
    today = _on_clock(now, zone).date()
    day = _on_clock(conversation.updated_at, zone).date()
    days_ago = (today - day).days  # calendar days: no DST arithmetic on hours
    if days_ago <= 0:  # today, or a clock a little ahead of ours
        return TODAY
    if days_ago == 1:
        return YESTERDAY
    if days_ago <= RECENT_DAYS:
        return PREVIOUS_7_DAYS
    return OLDER


def group_conversations(
    conversations: Iterable[T], now: datetime, zone: tzinfo
) -> list[HistoryGroup[T]]:
    """The non-empty groups in GROUP_ORDER, each keeping the conversations' given order."""
    found: dict[str, list[T]] = {group: [] for group in GROUP_ORDER}
    for conversation in conversations:
        found[group_id(conversation, now, zone)].append(conversation)
    return [HistoryGroup(group, items) for group, items in found.items() if items]
