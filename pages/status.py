"""Status: what this server is connected to, for whoever administers it."""

from ui import status_page
from ui.context import services

status_page.render(services())
