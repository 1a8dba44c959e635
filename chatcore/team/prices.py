"""What replies cost in money: the administrators' price list and the arithmetic on it.

AnyAPI bills per token at each model's own price, and the model list says nothing about
prices, so administrators keep them (per million tokens, in the installation's one currency,
ANYCHAT_CURRENCY). Costs are exact Decimals; only a page rounds them, when it shows one.
A past reply is priced from its stored tokens with today's list: the ledger keeps tokens,
not money, so a price change reprices history (the Usage page says so).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import get_currency_precision

from chatcore.errors import AccountError
from chatcore.i18n import N_
from chatcore.shared_setting import SharedSetting
from chatcore.team.csv_cells import guarded, unguarded
from storage import UserRecord
from storage.team_settings import TeamSettingsRepository

log = logging.getLogger(__name__)

PRICES_KEY = "prices"
CSV_COLUMNS = ("model", "input_per_million", "output_per_million")
MILLION = Decimal(1_000_000)
# No model costs this much per million tokens; a larger figure is a typo (a missing point).
MAX_PRICE = Decimal(1_000_000)
MAX_MODEL_CHARS = 200

CSV_NOT_TEXT = N_("The price list is not UTF-8 text.")
CSV_NO_HEADER = N_(
    "The price list's first line must be the header “model,input_per_million,output_per_million”."
)


@dataclass(frozen=True, slots=True)
class Price:
    """A model's price in the installation's currency, per million tokens each way."""

    input_per_million: Decimal
    output_per_million: Decimal

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / MILLION


def shown_amount(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded as a page shows it: to the currency's minor unit (the fen, the cent),
    or two places finer below one whole unit, where one reply's cost usually is (¥0.0123)."""
    places = get_currency_precision(currency)
    if amount and abs(amount) < 1:
        places += 2
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _decimal(raw: object) -> Decimal | None:
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def stored_prices(store: TeamSettingsRepository) -> dict[str, Price]:
    """The price list as saved; anything malformed in the row is skipped, not fatal."""
    models = store.value(PRICES_KEY).get("models", {})
    if not isinstance(models, dict):
        return {}
    prices: dict[str, Price] = {}
    for model, value in models.items():
        if not isinstance(value, dict):
            continue
        given, taken = _decimal(value.get("input")), _decimal(value.get("output"))
        if given is not None and taken is not None:
            prices[str(model)] = Price(given, taken)
    return prices


def parse_rows(rows: Iterable[Sequence[object]], first_row: int = 1) -> dict[str, Price]:
    """Rows of (model, input per million, output per million) as a price list; the first bad
    row refuses them all, its sentence naming the row (`first_row` is the first one's number,
    as a spreadsheet counts them). Blank rows are skipped."""
    prices: dict[str, Price] = {}
    seen: set[str] = set()
    for row_number, row in enumerate(rows, start=first_row):
        cells = ["" if cell is None else str(cell).strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) != len(CSV_COLUMNS) or not cells[0] or len(cells[0]) > MAX_MODEL_CHARS:
            raise AccountError(
                N_(
                    "Row {row} of the price list needs a model, an input price and an output price."
                ),
                code="price_row_unreadable",
                row=row_number,
            )
        model, *figures = cells
        model = unguarded(model)
        values: list[Decimal] = []
        for figure in figures:
            value = _decimal(figure)
            if value is None or not Decimal(0) <= value <= MAX_PRICE:
                raise AccountError(
                    N_(
                        "Row {row} of the price list: “{value}” is not a price "
                        "(a number from 0 to 1,000,000 per million tokens)."
                    ),
                    code="price_not_a_price",
                    row=row_number,
                    value=figure,
                )
            values.append(value)
        if model.lower() in seen:
            raise AccountError(
                N_("Row {row} of the price list prices “{model}” a second time."),
                code="price_model_repeated",
                row=row_number,
                model=model,
            )
        seen.add(model.lower())
        prices[model] = Price(*values)
    return prices


def parse_csv(data: bytes) -> dict[str, Price]:
    """A CSV price list (as `export_csv` writes it, or a spreadsheet saves it) read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AccountError(CSV_NOT_TEXT, code="price_csv_not_text") from None
    lines = list(csv.reader(io.StringIO(text)))
    if not lines or [cell.strip().lower() for cell in lines[0]] != list(CSV_COLUMNS):
        raise AccountError(CSV_NO_HEADER, code="price_csv_no_header")
    return parse_rows(lines[1:], first_row=2)


class PriceList:
    """The price list: read by every page that shows a cost, changed by administrators."""

    def __init__(
        self,
        store: TeamSettingsRepository,
        currency: str,
        *,
        require_admin: Callable[[UserRecord], object],
    ) -> None:
        self._store = store
        self.currency = currency
        self._require_admin = require_admin
        no_prices: dict[str, Price] = {}
        self._cache = SharedSetting(
            lambda: {model.lower(): price for model, price in stored_prices(store).items()},
            no_prices,
            name="prices",
        )

    def prices(self) -> dict[str, Price]:
        """Every price, under the model ids as the administrators wrote them."""
        return dict(sorted(stored_prices(self._store).items(), key=lambda item: item[0].lower()))

    def in_use(self) -> bool:
        """Whether any model has a price: without one, no page reads usage to cost it."""
        return bool(self._cache.get())

    def price(self, model: str) -> Price | None:
        """The model's price: its exact id, in any case; None when it has none."""
        return self._cache.get().get(model.lower())

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> Decimal | None:
        """What the tokens cost at today's price, unrounded; None when the model has no price."""
        price = self.price(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)

    def total_cost(self, uses: Iterable[tuple[str, int, int]]) -> tuple[Decimal | None, list[str]]:
        """The cost of (model, prompt tokens, completion tokens) uses, None when no model of
        them has a price; and the models that have none, whose tokens it leaves out."""
        total: Decimal | None = None
        unpriced: set[str] = set()
        for model, prompt_tokens, completion_tokens in uses:
            cost = self.cost(model, prompt_tokens, completion_tokens)
            if cost is None:
                unpriced.add(model)
            else:
                total = cost if total is None else total + cost
        return total, sorted(unpriced)

    def set_prices(self, admin: UserRecord, prices: Mapping[str, Price]) -> dict[str, Price]:
        """Replace the whole list (the Admin page's table saves every row at once)."""
        self._require_admin(admin)
        checked = parse_rows(
            (model, price.input_per_million, price.output_per_million)
            for model, price in prices.items()
        )
        self._store.set_value(
            PRICES_KEY,
            {
                "models": {
                    model: {
                        "input": str(price.input_per_million),
                        "output": str(price.output_per_million),
                    }
                    for model, price in checked.items()
                }
            },
        )
        self._cache.forget()
        return checked

    def import_csv(self, admin: UserRecord, data: bytes) -> int:
        """Replace the list with a CSV file's; how many models it prices."""
        self._require_admin(admin)
        return len(self.set_prices(admin, parse_csv(data)))

    def export_csv(self) -> bytes:
        """The list as `import_csv` reads it back, UTF-8 with a byte-order mark (for Excel)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        for model, price in self.prices().items():
            writer.writerow((guarded(model), price.input_per_million, price.output_per_million))
        return buffer.getvalue().encode("utf-8-sig")
