"""Status: what this server is connected to, for whoever administers it."""

from ui import status_page
from ui.context import current_user, services

if current_user().is_admin:  # the page is only listed for admins; a direct URL is refused too
    status_page.render(services())
