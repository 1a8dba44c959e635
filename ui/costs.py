"""Money as the reader writes it: the installation's currency, rounded only here, when shown."""

from __future__ import annotations

from decimal import Decimal

from babel import numbers

from chatcore.team.prices import shown_amount
from chatcore.wiring import Services
from ui.i18n import _, current
from ui.text import plain


def money(amount: Decimal, currency: str) -> str:
    """`amount` in the reader's notation (¥0.0123, CN¥12.50, 12,50 €)."""
    return numbers.format_currency(
        shown_amount(amount, currency),
        currency,
        locale=current().locale,
        decimal_quantization=False,  # keep the places shown_amount chose
    )


def unpriced_note(models: list[str]) -> str:
    """Said wherever a cost leaves out models that have no price (their tokens still count)."""
    return _("no price set for: {models}", models=", ".join(plain(model) for model in models))


def conversation_cost(services: Services, user_id: int, conversation_id: str) -> str:
    """What follows a conversation's token total: its cost at today's prices, and the models
    it leaves out; empty when no reply has a price or tokens, and when the team keeps no price
    list (then nothing is read: a page run pays nothing for prices nobody set)."""
    if not services.prices.in_use():
        return ""
    uses = services.chat.token_use_by_model(user_id, conversation_id)
    cost, unpriced = services.prices.total_cost(uses)
    facts = [] if cost is None else [money(cost, services.prices.currency)]
    if unpriced:
        facts.append(unpriced_note(unpriced))
    return "".join(f" · {fact}" for fact in facts)
