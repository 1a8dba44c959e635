"""Admin: teammates, roles, quotas and their usage."""

from ui import admin_page
from ui.auth import signed_in_admin
from ui.context import services

admin_page.render(services(), signed_in_admin(services()))
