"""Account: my password and my personal API key."""

from ui import account_page
from ui.auth import signed_in_user
from ui.context import services

account_page.render(services(), signed_in_user(services()))
