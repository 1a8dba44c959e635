"""Cells of the CSV files AnyChat writes for spreadsheets (usage, prices): text that starts
like a formula is run as one by Excel and its kin, so it is written with a leading quote.
Usernames from an identity provider and model ids are not ours to trust."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guarded(value: str) -> str:
    """`value` as a spreadsheet shows it, never run."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def unguarded(value: str) -> str:
    """A cell `guarded` wrote, read back as it was: the file round-trips."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
