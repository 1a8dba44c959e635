"""Usage: tokens per day and per model, for me, or for everyone when I administer."""

from ui import usage_page
from ui.auth import signed_in_user
from ui.context import services

usage_page.render(services(), signed_in_user(services()))
