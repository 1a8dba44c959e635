"""The current-time tool: the date, time and weekday in a time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

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
