"""Status: what this server is connected to, for whoever administers it."""

from ui import status_page
from ui.auth import signed_in_admin
from ui.context import services

signed_in_admin(services())  # the page is only listed for admins; a direct URL is refused too
status_page.render(services())
