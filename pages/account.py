"""Account: my password and my personal API key."""

from ui import account_page
from ui.context import current_user, services

account_page.render(services(), current_user())
