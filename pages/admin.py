"""Admin: teammates, roles, quotas and their usage."""

from ui import admin_page
from ui.context import current_user, services

admin_page.render(services(), current_user())
