"""Usage: tokens per day and per model, for me, or for everyone when I administer."""

from ui import usage_page
from ui.context import current_user, services

usage_page.render(services(), current_user())
